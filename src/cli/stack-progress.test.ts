import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { Output } from './output.ts';
import { stackProgressOptions } from './stack-progress.ts';

function capture(opts: { json: boolean; tty: boolean }) {
  const out = Object.assign(new PassThrough(), { isTTY: false });
  const err = Object.assign(new PassThrough(), { isTTY: opts.tty, columns: 200 });
  const text = { out: '', err: '' };
  out.on('data', (c: Buffer) => (text.out += c.toString()));
  err.on('data', (c: Buffer) => (text.err += c.toString()));
  return { output: new Output({ json: opts.json, debug: false, stdout: out, stderr: err }), text };
}

test('--json: progress events are JSON lines on stdout, one a second per source', () => {
  const { output, text } = capture({ json: true, tty: true });
  let now = 0;
  const o = stackProgressOptions(output, () => now);
  for (now = 0; now <= 2500; now += 100) o.onSourceProgress?.({ source: 'db', phase: 'restore', bytes: now * 10, total: 50_000 });
  const lines = text.out.trim().split('\n').map((l) => JSON.parse(l) as { message_type: string; bytes: number; eta_seconds: number });
  assert.deepEqual(lines.map((l) => [l.message_type, l.bytes, l.eta_seconds]), [['progress', 10_000, 4], ['progress', 20_000, 3]]);
  assert.equal(text.err, '', 'nothing drawn in --json mode');
});

test('a terminal gets one redrawn line on stderr; a pipe gets nothing and no progress is asked for', () => {
  const tty = capture({ json: false, tty: true });
  const o = stackProgressOptions(tty.output, () => 1000);
  o.onSourceProgress?.({ source: 'db', phase: 'backup', bytes: 2048, bytes_added: 1024 });
  assert.equal(tty.text.err, '\r\u001b[2Kdb: 2.00 KiB 0 B/s +1.00 KiB');
  assert.equal(tty.text.out, '');
  const pipe = capture({ json: false, tty: false });
  assert.equal(stackProgressOptions(pipe.output).onSourceProgress, undefined);
});
