import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { SourceError } from '../../core/errors.ts';
import { RaftSnapshotChecker } from './raft-snapshot.ts';
import { checkedSnapshot } from './vault-source.ts';

/** One ustar entry: header (checksum left blank, the checker does not read it) + padded data. */
function tarEntry(name: string, content: Buffer): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 'utf8');
  h.write('0000600\0', 100, 'latin1');
  h.write(`${content.length.toString(8).padStart(11, '0')}\0`, 124, 'latin1');
  h.write('0', 156, 'latin1');
  h.write('ustar\0', 257, 'latin1');
  return Buffer.concat([h, content, Buffer.alloc((512 - (content.length % 512)) % 512)]);
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const meta = Buffer.from(JSON.stringify({ Version: 1, ID: 'bolt-snapshot', Index: 35, Term: 3, Size: 1300 }));
const state = Buffer.alloc(1300, 9);

function archive(o: { sealed?: boolean; sums?: string } = {}): Buffer {
  const sums = Buffer.from(o.sums ?? `${sha(meta)}  meta.json\n${sha(state)}  state.bin\n`);
  return Buffer.concat([
    tarEntry('meta.json', meta),
    tarEntry('state.bin', state),
    tarEntry('SHA256SUMS', sums),
    ...(o.sealed === false ? [] : [tarEntry('SHA256SUMS.sealed', Buffer.alloc(185, 1))]),
    Buffer.alloc(1024),
  ]);
}

function check(tar: Buffer, chunk = 100): ReturnType<RaftSnapshotChecker['finish']> {
  const c = new RaftSnapshotChecker();
  for (let i = 0; i < tar.length; i += chunk) c.update(tar.subarray(i, i + chunk));
  return c.finish();
}

async function* chunks(b: Buffer, size = 64): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}

describe('raft snapshot checker', () => {
  it('accepts a complete archive fed in any chunking and reads index and term', () => {
    for (const size of [1, 100, 512, 100_000]) {
      assert.deepEqual(check(archive(), size), { ok: true, meta: { index: 35, term: 3 }, entries: ['meta.json', 'state.bin', 'SHA256SUMS', 'SHA256SUMS.sealed'], stateBytes: 1300 });
    }
  });
  it('refuses an archive without SHA256SUMS.sealed (the server failed after HTTP 200)', () => {
    const r = check(archive({ sealed: false }));
    assert.equal(r.ok, false);
    assert.match((r as { reason: string }).reason, /is incomplete: its last entry is "SHA256SUMS", not a non-empty SHA256SUMS\.sealed/);
  });
  it('refuses an archive cut inside an entry', () => {
    const r = check(archive().subarray(0, 1024 + 512 + 100));
    assert.match((r as { reason: string }).reason, /is truncated inside state\.bin/);
  });
  it('refuses state.bin that does not match SHA256SUMS', () => {
    const r = check(archive({ sums: `${sha(meta)}  meta.json\n${'0'.repeat(64)}  state.bin\n` }));
    assert.match((r as { reason: string }).reason, /fails its SHA256SUMS check on state\.bin/);
  });
  it('refuses bytes that are not tar', () => {
    const r = check(Buffer.alloc(2048, 65));
    assert.match((r as { reason: string }).reason, /not a tar archive/);
  });
});

describe('checkedSnapshot', () => {
  const fail = (reason: string): Error => new SourceError(`raft.snap ${reason}`);
  it('passes a complete gzip archive through byte for byte', async () => {
    const gz = gzipSync(archive());
    const out: Buffer[] = [];
    for await (const c of checkedSnapshot(chunks(gz), new RaftSnapshotChecker(), fail)) out.push(Buffer.from(c));
    assert.ok(Buffer.concat(out).equals(gz));
  });
  it('withholds the last chunk of an incomplete archive and throws the coded error', async () => {
    const gz = gzipSync(archive({ sealed: false }));
    let passed = 0;
    await assert.rejects(async () => {
      for await (const c of checkedSnapshot(chunks(gz), new RaftSnapshotChecker(), fail)) passed += c.length;
    }, (err: unknown) => err instanceof SourceError && /SHA256SUMS\.sealed/.test(err.message));
    assert.ok(passed < gz.length, 'the whole stream went through');
  });
  it('throws on a gzip stream cut short', async () => {
    const gz = gzipSync(archive());
    await assert.rejects(async () => {
      for await (const _ of checkedSnapshot(chunks(gz.subarray(0, gz.length - 20)), new RaftSnapshotChecker(), fail)) { /* drain */ }
    }, (err: unknown) => err instanceof SourceError && /gzip stream|truncated|incomplete/.test(err.message));
  });
});
