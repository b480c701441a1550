// The idle watchdog on a tool's output: a tool that writes nothing is stopped and says so;
// a reader that does not read (back-pressure) does not make a busy tool look idle.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { localRunner } from '../transport/local-runner.ts';
import { watchIdle } from './process-kit.ts';

test('a tool that stops writing is stopped after the idle time, and its result says why', async () => {
  const cmd = watchIdle(localRunner.start({ command: '/bin/sh', args: ['-c', 'printf started; exec sleep 60'] }), 200);
  cmd.stdin.end();
  const chunks: Buffer[] = [];
  for await (const c of cmd.stdout) chunks.push(c as Buffer);
  const fin = await cmd.done;
  assert.equal(Buffer.concat(chunks).toString(), 'started');
  assert.equal(fin.signal, 'SIGTERM');
  assert.match(fin.stderr, /no output for 0\.2 s \(timeouts\.idle\), stopped/);
});

test('time the reader spends not reading does not count as idle', async () => {
  const size = 4 * 1024 * 1024;
  const cmd = watchIdle(localRunner.start({ command: 'head', args: ['-c', String(size), '/dev/zero'] }), 200);
  cmd.stdin.end();
  let got = 0;
  for await (const c of cmd.stdout) {
    got += (c as Buffer).length;
    // The first read waits three idle periods while the pipe is full.
    if (got === (c as Buffer).length) await sleep(600);
  }
  const fin = await cmd.done;
  assert.equal(got, size);
  assert.equal(fin.code, 0, fin.stderr);
  assert.doesNotMatch(fin.stderr, /no output/);
});
