/**
 * The restic CLI as the oracle for lifeboat's repository format, end to end through the CLI:
 * what lifeboat writes restic checks and restores byte for byte, what restic writes (format
 * v1 and v2) lifeboat reads, and both cut the same bytes into the same blobs.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, readFile, readdir, stat, writeFile, access } from 'node:fs/promises';
import path from 'node:path';
import { lifeboat } from '../support/lifeboat-cli.ts';
import { restic, resticOk, resticInit } from '../support/restic.ts';
import { missingBinaries } from '../support/require.ts';
import { tempDir } from '../support/tmp.ts';
import type { TempDir } from '../support/tmp.ts';
import { describeTree, makeCorpus, pseudoRandom } from '../support/corpus.ts';

const PASSWORD = 'correct horse battery staple';

async function packFiles(repo: string): Promise<string[]> {
  const out: string[] = [];
  for (const d of await readdir(path.join(repo, 'data'))) {
    for (const f of await readdir(path.join(repo, 'data', d))) out.push(path.join(repo, 'data', d, f));
  }
  return out;
}

describe('lifeboat writes, restic reads', { skip: missingBinaries('restic') }, () => {
  let tmp: TempDir;
  let src: string;
  let repo: string;
  before(async () => {
    tmp = await tempDir('engine');
    src = path.join(tmp.path, 'src');
    repo = path.join(tmp.path, 'repo');
    await makeCorpus(src);
    const init = await lifeboat(['-r', repo, 'init'], { password: PASSWORD });
    assert.equal(init.code, 0, init.stderr);
    const b = await lifeboat(['-r', repo, 'backup', src, '--tag', 'first', '--json'], { password: PASSWORD });
    assert.equal(b.code, 0, b.stderr);
  });
  after(() => tmp.cleanup());

  test('restic check --read-data accepts the repository', async () => {
    const r = await restic(['check', '--read-data'], { repo, password: PASSWORD });
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });

  test('restic restore gives a byte-identical tree with modes, links and times', async () => {
    const target = path.join(tmp.path, 'restic-restore');
    await resticOk(['restore', 'latest', '--target', target], { repo, password: PASSWORD });
    assert.deepEqual(await describeTree(path.join(target, src)), await describeTree(src));
  });

  test('lifeboat restore gives a byte-identical tree and keeps hard links', async () => {
    const target = path.join(tmp.path, 'lb-restore');
    const r = await lifeboat(['-r', repo, 'restore', 'latest', '--target', target], { password: PASSWORD });
    assert.equal(r.code, 0, r.stderr);
    const restored = path.join(target, src);
    assert.deepEqual(await describeTree(restored), await describeTree(src));
    const [a, b] = await Promise.all([stat(path.join(restored, 'hard-a')), stat(path.join(restored, 'hard-b'))]);
    assert.equal(a.ino, b.ino);
  });

  test('a second backup reads no unchanged file and adds nothing', async () => {
    const r = await lifeboat(['-r', repo, 'backup', src, '--json'], { password: PASSWORD });
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout.trim().split('\n').at(-1) as string);
    assert.equal(s.files_new, 0);
    assert.equal(s.files_changed, 0);
    assert.ok(s.files_unmodified > 10);
    assert.equal(s.data_blobs, 0);
    const snaps = await resticOk(['snapshots', '--json'], { repo, password: PASSWORD });
    assert.equal(JSON.parse(snaps.stdout).length, 2);
  });

  test('stdin backup and dump round-trip the exact bytes; restic dump agrees', async () => {
    const data = pseudoRandom(3 * 1024 * 1024 + 17, 99);
    const b = await lifeboat(['-r', repo, 'backup', '--stdin', '--stdin-filename', 'db/app.dump', '--json'], { password: PASSWORD, input: data });
    assert.equal(b.code, 0, b.stderr);
    const id = JSON.parse(b.stdout.trim()).snapshot_id as string;
    const d = await lifeboat(['-r', repo, 'dump', id, '/db/app.dump'], { password: PASSWORD });
    assert.equal(d.code, 0, d.stderr);
    assert.ok(d.stdoutBytes.equals(data));
    const rd = await resticOk(['dump', id, '/db/app.dump'], { repo, password: PASSWORD });
    assert.ok(rd.stdoutBytes.equals(data));
  });
});

describe('restic writes, lifeboat reads', { skip: missingBinaries('restic') }, () => {
  for (const version of ['1', '2']) {
    test(`a restic format v${version} repository restores byte-identical`, async () => {
      const tmp = await tempDir('restic-v' + version);
      try {
        const src = path.join(tmp.path, 'src');
        const repo = path.join(tmp.path, 'repo');
        await makeCorpus(src, { bigSize: 2 * 1024 * 1024 });
        await resticOk(['init', '--repository-version', version], { repo, password: PASSWORD });
        await resticOk(['backup', src], { repo, password: PASSWORD });
        const snaps = await lifeboat(['-r', repo, 'snapshots', '--json'], { password: PASSWORD });
        assert.equal(snaps.code, 0, snaps.stderr);
        assert.equal(JSON.parse(snaps.stdout).length, 1);
        const target = path.join(tmp.path, 'out');
        const r = await lifeboat(['-r', repo, 'restore', 'latest', '--target', target], { password: PASSWORD });
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual(await describeTree(path.join(target, src)), await describeTree(src));
      } finally {
        await tmp.cleanup();
      }
    });
  }

  test('lifeboat cuts the same bytes into the same blobs as restic (no new data blobs)', async () => {
    const tmp = await tempDir('same-blobs');
    try {
      const repo = path.join(tmp.path, 'repo');
      const data = pseudoRandom(12 * 1024 * 1024, 5);
      await resticInit({ repo, password: PASSWORD });
      await resticOk(['backup', '--stdin', '--stdin-filename', 'x.bin'], { repo, password: PASSWORD, input: data });
      const b = await lifeboat(['-r', repo, 'backup', '--stdin', '--stdin-filename', 'y.bin', '--json'], { password: PASSWORD, input: data });
      assert.equal(b.code, 0, b.stderr);
      const s = JSON.parse(b.stdout.trim());
      assert.equal(s.data_blobs, 0, 'every chunk lifeboat cut was already stored by restic');
      assert.equal(s.bytes_read, data.length);
      const c = await restic(['check', '--read-data'], { repo, password: PASSWORD });
      assert.equal(c.code, 0, c.stderr);
    } finally {
      await tmp.cleanup();
    }
  });
});

describe('bad input: clear errors, documented exit codes, no wrong byte restored', { skip: missingBinaries('restic') }, () => {
  let tmp: TempDir;
  let src: string;
  let repo: string;
  before(async () => {
    tmp = await tempDir('damage');
    src = path.join(tmp.path, 'src');
    repo = path.join(tmp.path, 'repo');
    await makeCorpus(src, { bigSize: 3 * 1024 * 1024 });
    assert.equal((await lifeboat(['-r', repo, 'init'], { password: PASSWORD })).code, 0);
    assert.equal((await lifeboat(['-r', repo, 'backup', src], { password: PASSWORD })).code, 0);
  });
  after(() => tmp.cleanup());

  test('wrong password: exit 12, one line, the password never printed', async () => {
    const r = await lifeboat(['-r', repo, 'snapshots'], { password: 'not-the-password' });
    assert.equal(r.code, 12);
    assert.match(r.stderr, /wrong password/);
    assert.doesNotMatch(r.stderr + r.stdout, /not-the-password/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace without --debug');
  });

  test('no password: usage error (exit 2) with a hint', async () => {
    const r = await lifeboat(['-r', repo, 'snapshots']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no repository password/);
    assert.match(r.stderr, /hint: /);
  });

  test('missing repository: exit 10 (restic 0.17+), clear error naming the location', async () => {
    const r = await lifeboat(['-r', path.join(tmp.path, 'nope'), 'snapshots'], { password: PASSWORD });
    assert.equal(r.code, 10);
    assert.match(r.stderr, /no repository at .*nope/);
  });

  test('a flipped byte in a pack: restore exits 5, names the file, and leaves no damaged file in place', async () => {
    const copy = path.join(tmp.path, 'repo-flip');
    await resticOk(['copy', '--repo2', copy], { repo, password: PASSWORD, env: {} }).catch(() => undefined);
    // Damage the largest pack (it holds big.bin's chunks).
    const packs = await packFiles(repo);
    const sizes = await Promise.all(packs.map(async (p) => ({ p, size: (await stat(p)).size })));
    const biggest = sizes.sort((a, b) => b.size - a.size)[0] as { p: string; size: number };
    const bytes = await readFile(biggest.p);
    const original = Buffer.from(bytes);
    bytes[Math.floor(bytes.length / 3)] ^= 0x40;
    await chmod(biggest.p, 0o644);
    await writeFile(biggest.p, bytes);
    try {
      const target = path.join(tmp.path, 'flip-restore');
      const r = await lifeboat(['-r', repo, 'restore', 'latest', '--target', target], { password: PASSWORD });
      assert.equal(r.code, 5, r.stderr);
      assert.match(r.stderr, /damaged|MAC/);
      const restored = path.join(target, src);
      // Whatever file held the damaged blob is absent, never present with wrong bytes.
      const want = await describeTree(src);
      const got = await describeTree(restored);
      let missing = 0;
      for (const [rel, info] of want) {
        const g = got.get(rel);
        if (!g) {
          missing++;
          continue;
        }
        if (info.type === 'file') assert.equal(g.sha256, info.sha256, `${rel} restored with wrong bytes`);
      }
      assert.ok(missing >= 1, 'the damaged file must not be restored');
      for (const name of await readdir(restored)) assert.doesNotMatch(name, /lifeboat-/, 'no temp file left behind');
    } finally {
      await writeFile(biggest.p, original);
    }
  });

  test('a missing pack: restore names the missing blob and exits non-zero', async () => {
    const packs = await packFiles(repo);
    const victim = packs[0] as string;
    const saved = await readFile(victim);
    const { rm } = await import('node:fs/promises');
    await rm(victim, { force: true });
    try {
      const target = path.join(tmp.path, 'missing-restore');
      const r = await lifeboat(['-r', repo, 'restore', 'latest', '--target', target], { password: PASSWORD });
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /restore incomplete|not found|cannot/);
    } finally {
      await writeFile(victim, saved);
      await access(victim);
    }
  });
});
