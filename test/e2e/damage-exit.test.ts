/**
 * Damage found while reading is reported as damage: a pack the index names but storage lacks
 * makes `restore` and `dump` exit 5 (integrity) with a hint, and `snapshots` with an
 * unreadable snapshot file lists the readable ones, then fails naming the unreadable one.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runCli } from '../support/in-process-cli.ts';
import { tempDir } from '../support/tmp.ts';
import type { TempDir } from '../support/tmp.ts';
import { openRepositoryAt } from '../../src/app/open-repository.ts';
import { listSnapshots } from '../../src/repo/snapshot/snapshot.ts';
import { TreeStore } from '../../src/repo/tree/tree-io.ts';

const PW = 'damage-pw';

describe('damage found while reading exits with the integrity code', () => {
  let tmp: TempDir;
  let repo: string;
  let src: string;
  const env = (): NodeJS.ProcessEnv => ({ HOME: tmp.path, PATH: process.env.PATH, LIFEBOAT_PASSWORD: PW });
  const run = (args: string[]) => runCli(['-r', repo, ...args], env());

  before(async () => {
    tmp = await tempDir('damage');
    repo = path.join(tmp.path, 'repo');
    src = path.join(tmp.path, 'src');
    await mkdir(src);
    await writeFile(path.join(src, 'big.bin'), Buffer.alloc(200_000, 7));
    await writeFile(path.join(src, 'small.txt'), 'small\n');
    assert.equal((await run(['init'])).code, 0);
    assert.equal((await run(['backup', src])).code, 0);
    assert.equal((await run(['backup', src, '--tag', 'second'])).code, 0);
  });
  after(() => tmp.cleanup());

  /** The pack holding big.bin's data: found through the snapshot's trees and the index. */
  async function dataPackOfBigFile(): Promise<string> {
    const opened = await openRepositoryAt(`local:${repo}`, PW);
    try {
      const [snap] = await listSnapshots(opened.repo);
      const trees = new TreeStore(opened.repo);
      let tree = await trees.load(snap?.tree as string);
      for (const part of src.split('/').filter(Boolean)) {
        const dir = tree.nodes.find((n) => n.name === part);
        tree = await trees.load(dir?.subtree as string);
      }
      const big = tree.nodes.find((n) => n.name === 'big.bin');
      return opened.repo.index.lookup('data', big?.content?.[0] as string)[0]?.packId as string;
    } finally {
      await opened.close();
    }
  }

  test('restore and dump with a missing data pack exit 5 and name the next step', async () => {
    const pack = await dataPackOfBigFile();
    const file = path.join(repo, 'data', pack.slice(0, 2), pack);
    await rename(file, `${file}.gone`);
    try {
      const r = await run(['restore', 'latest', '--target', path.join(tmp.path, 'out')]);
      assert.equal(r.code, 5, r.stderr);
      assert.match(r.stderr, /restore incomplete/);
      assert.match(r.stderr, /hint: run "lifeboat check/);
      const d = await run(['dump', 'latest', path.join(src, 'big.bin')]);
      assert.equal(d.code, 5, d.stderr);
      assert.match(d.stderr, new RegExp(`pack ${pack.slice(0, 16)}… is missing from the repository, but the index names it`));
      assert.match(d.stderr, /hint: run "lifeboat check" to see which snapshots it affects/);
    } finally {
      await rename(`${file}.gone`, file);
    }
    assert.equal((await run(['dump', 'latest', path.join(src, 'big.bin')])).code, 0, 'the repository is whole again');
  });

  test('snapshots lists the readable snapshots and fails naming an unreadable one', async () => {
    const opened = await openRepositoryAt(`local:${repo}`, PW, { loadIndex: false });
    const ids = (await listSnapshots(opened.repo)).map((s) => s.id);
    await opened.close();
    const victim = path.join(repo, 'snapshots', ids[0] as string);
    const bytes = await readFile(victim);
    const bad = Buffer.from(bytes);
    bad[bad.length - 5] = (bad[bad.length - 5] as number) ^ 0xff;
    await writeFile(victim, bad);
    try {
      const r = await run(['snapshots']);
      assert.equal(r.code, 5, r.stderr);
      assert.match(r.stdout, new RegExp((ids[1] as string).slice(0, 8)));
      assert.match(r.stdout, /1 snapshots/);
      assert.match(r.stderr, new RegExp(`1 snapshot file cannot be read: ${(ids[0] as string).slice(0, 8)}`));
    } finally {
      await writeFile(victim, bytes);
    }
    assert.equal((await run(['snapshots'])).code, 0);
  });

  test('restore latest with the newest snapshot file damaged fails naming it, as restic, instead of restoring the one before', async () => {
    const opened = await openRepositoryAt(`local:${repo}`, PW, { loadIndex: false });
    const ids = (await listSnapshots(opened.repo)).map((s) => s.id);
    await opened.close();
    const newest = ids.at(-1) as string;
    const victim = path.join(repo, 'snapshots', newest);
    const bytes = await readFile(victim);
    const bad = Buffer.from(bytes);
    bad[bad.length - 5] = (bad[bad.length - 5] as number) ^ 0xff;
    await writeFile(victim, bad);
    try {
      const r = await run(['restore', 'latest', '--target', path.join(tmp.path, 'latest-out')]);
      assert.equal(r.code, 5, r.stderr);
      assert.match(r.stderr, new RegExp(`cannot tell which snapshot is the latest: 1 snapshot file cannot be read \\(${newest.slice(0, 8)}`));
      assert.match(r.stderr, /hint: name a snapshot by ID/);
      const ls = await run(['ls', 'latest']);
      assert.equal(ls.code, 5, ls.stderr);
      const older = await run(['restore', (ids[0] as string).slice(0, 8), '--target', path.join(tmp.path, 'older-out')]);
      assert.equal(older.code, 0, older.stderr);
    } finally {
      await writeFile(victim, bytes);
    }
  });
});
