// A restore never creates, follows or changes metadata through anything outside its target,
// whatever the snapshot's trees hold: trees are written here by hand (repeated, unsorted and
// unsafe names, every pair of types under one name), and the target holds live symlinks to
// outside. "Outside" is a directory and a file beside the target whose content, mode and
// times must not change; the checker must call such trees damaged and name them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { IntegrityError, NotFoundError } from '../core/errors.ts';
import { idOf } from '../core/ids.ts';
import { createMemoryStorage } from '../storage/memory/memory-storage.ts';
import { checkRepository } from './checker/checker.ts';
import { Repository } from './repository.ts';
import { loadSnapshot, saveSnapshot } from './snapshot/snapshot.ts';
import type { Snapshot } from './snapshot/snapshot.ts';
import { Restorer } from './restorer.ts';

const T = '2024-05-06T07:08:09.123456789Z';

type RawNode = Record<string, unknown>;
const file = (name: string, content: string[] = [], extra: RawNode = {}): RawNode => ({ name, type: 'file', mode: 0o644, mtime: T, atime: T, ctime: T, uid: 0, gid: 0, size: 0, content, ...extra });
const dir = (name: string, subtree: string): RawNode => ({ name, type: 'dir', mode: (0x80000000 | 0o777) >>> 0, mtime: T, atime: T, ctime: T, uid: 0, gid: 0, content: null, subtree });
const link = (name: string, target: string): RawNode => ({ name, type: 'symlink', mode: (0x08000000 | 0o777) >>> 0, mtime: T, atime: T, ctime: T, uid: 0, gid: 0, linktarget: target, content: null });

interface Fixture {
  root: string;
  target: string;
  outside: string;
  outsideFile: string;
  repo: Repository;
  /** Saves a tree blob exactly as given (no sorting, no checks); returns its ID. */
  tree(nodes: RawNode[]): Promise<string>;
  /** Saves a data blob. */
  blob(data: string): Promise<string>;
  snapshot(tree: string): Promise<Snapshot>;
  /** Asserts that nothing outside the target changed. */
  outsideUntouched(): void;
}

async function fixture(t: { after(fn: () => void): void }): Promise<Fixture> {
  const root = mkdtempSync(path.join(tmpdir(), 'lifeboat-contain-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const outside = path.join(root, 'outside');
  mkdirSync(outside);
  const outsideFile = path.join(root, 'outside.txt');
  writeFileSync(outsideFile, 'outside\n');
  chmodSync(outside, 0o700);
  chmodSync(outsideFile, 0o600);
  const old = new Date('2001-02-03T04:05:06Z');
  utimesSync(outside, old, old);
  utimesSync(outsideFile, old, old);
  const storage = createMemoryStorage();
  await Repository.init(storage, 'pw', { scrypt: { N: 1024, r: 8, p: 1 } });
  const repo = await Repository.open(storage, 'pw');
  await repo.loadIndex();
  return {
    root,
    target: path.join(root, 'target'),
    outside,
    outsideFile,
    repo,
    async tree(nodes) {
      const bytes = Buffer.from(JSON.stringify({ nodes }) + '\n');
      await repo.saveBlob('tree', bytes, idOf(bytes));
      return idOf(bytes);
    },
    async blob(data) {
      const bytes = Buffer.from(data);
      await repo.saveBlob('data', bytes, idOf(bytes));
      return idOf(bytes);
    },
    async snapshot(tree) {
      await repo.flush();
      return loadSnapshot(repo, await saveSnapshot(repo, { time: T, tree, paths: ['/x'], hostname: 'h', username: 'u' }));
    },
    outsideUntouched() {
      assert.deepEqual(readdirSync(outside), [], 'nothing was created outside the target');
      const st = statSync(outside);
      assert.equal(st.mode & 0o7777, 0o700, 'the outside directory kept its mode');
      assert.equal(st.mtime.getTime(), old.getTime(), 'the outside directory kept its times');
      assert.equal(readFileSync(outsideFile, 'utf8'), 'outside\n', 'the outside file kept its content');
      assert.equal(statSync(outsideFile).mode & 0o7777, 0o600, 'the outside file kept its mode');
      assert.equal(statSync(outsideFile).mtime.getTime(), old.getTime(), 'the outside file kept its times');
    },
  };
}

test('the reported attack: a symlink to outside and then a directory of the same name restores nothing outside', async (t) => {
  const f = await fixture(t);
  const inner = await f.tree([file('pwned', [await f.blob('pwned\n')], { size: 6 })]);
  const bad = await f.tree([link('a', f.outside), dir('a', inner)]);
  // As the root tree: the restore fails as a whole, with the integrity code.
  await assert.rejects(new Restorer(f.repo).restore(await f.snapshot(bad), f.target), (err: unknown) => err instanceof IntegrityError && err.message.includes(`tree ${bad}`) && err.message.includes('"a" appears twice'));
  f.outsideUntouched();
  // Below the root: that directory is an error naming the tree and path, the rest is restored.
  const ok = await f.tree([file('fine', [await f.blob('fine\n')], { size: 5 })]);
  const res = await new Restorer(f.repo).restore(await f.snapshot(await f.tree([dir('d', bad), dir('e', ok)])), f.target);
  assert.equal(res.errors.length, 1);
  assert.equal(res.errors[0]?.path, path.join(f.target, 'd'));
  assert.match(res.errors[0]?.message ?? '', new RegExp(`tree ${bad} is damaged`));
  assert.equal(readFileSync(path.join(f.target, 'e', 'fine'), 'utf8'), 'fine\n');
  assert.deepEqual(readdirSync(path.join(f.target, 'd')), []);
  f.outsideUntouched();
});

test('every pair of types under one name, unsorted names and unsafe names: the tree is damaged, nothing is written', async (t) => {
  const f = await fixture(t);
  const data = await f.blob('data\n');
  const inner = await f.tree([file('x', [data], { size: 5 })]);
  const kinds: Record<string, (name: string) => RawNode> = {
    symlink: (n) => link(n, f.outside),
    fileLink: (n) => link(n, f.outsideFile),
    dir: (n) => dir(n, inner),
    file: (n) => file(n, [data], { size: 5 }),
  };
  const cases: Array<{ what: string; nodes: RawNode[]; message: RegExp }> = [];
  for (const [a, mk1] of Object.entries(kinds)) {
    for (const [b, mk2] of Object.entries(kinds)) cases.push({ what: `${a} then ${b}`, nodes: [mk1('a'), mk2('a')], message: /"a" appears twice/ });
  }
  cases.push({ what: 'unsorted', nodes: [file('b', [data], { size: 5 }), link('a', f.outside)], message: /not sorted/ });
  for (const name of ['', '.', '..', 'x/y', '../../outside', 'a\u0000b']) {
    cases.push({ what: `name ${JSON.stringify(name)}`, nodes: [dir(name, inner)], message: /holds (an empty name|the name|a name with)/ });
  }
  // Go-quoted forms of the same: restic unquotes names, and so do we before checking them.
  cases.push({ what: 'quoted slash', nodes: [dir('..\\x2foutside', inner)], message: /a name with "\/"/ });
  cases.push({ what: 'quoted NUL', nodes: [file('a\\x00b', [data], { size: 5 })], message: /NUL/ });
  for (const c of cases) {
    const id = await f.tree(c.nodes);
    const res = await new Restorer(f.repo).restore(await f.snapshot(await f.tree([dir('d', id)])), f.target);
    assert.equal(res.errors.length, 1, c.what);
    assert.match(res.errors[0]?.message ?? '', c.message, c.what);
    assert.match(res.errors[0]?.message ?? '', new RegExp(`tree ${id} is damaged`), c.what);
    assert.deepEqual(readdirSync(path.join(f.target, 'd')), [], `${c.what}: nothing restored from the damaged tree`);
    f.outsideUntouched();
  }
  // The checker calls each of them damaged and names the tree.
  const report = await checkRepository(f.repo);
  const damaged = new Set(report.errors.filter((d) => d.kind === 'tree').map((d) => d.object));
  for (const c of cases) assert.ok(damaged.has(`tree ${await f.tree(c.nodes)}`), `check names the tree of ${c.what}`);
});

test('live symlinks in the target where the snapshot has a directory, a file or a link are replaced, never followed', async (t) => {
  const f = await fixture(t);
  const data = await f.blob('new\n');
  const deep = await f.tree([file('f', [data], { size: 4 })]);
  const sub = await f.tree([dir('deeper', deep), file('g', [data], { size: 4 })]);
  const rootTree = await f.tree([dir('a', sub), file('b', [data], { size: 4 }), link('c', 'elsewhere'), dir('d', deep)]);
  mkdirSync(f.target);
  symlinkSync(f.outside, path.join(f.target, 'a')); // a directory in the snapshot
  symlinkSync(f.outsideFile, path.join(f.target, 'b')); // a file in the snapshot
  symlinkSync(f.outside, path.join(f.target, 'c')); // a symlink in the snapshot
  writeFileSync(path.join(f.target, 'd'), 'a file where the snapshot has a directory\n');
  const res = await new Restorer(f.repo).restore(await f.snapshot(rootTree), f.target);
  assert.deepEqual(res.errors, []);
  f.outsideUntouched();
  assert.ok(lstatSync(path.join(f.target, 'a')).isDirectory());
  assert.equal(readFileSync(path.join(f.target, 'a', 'deeper', 'f'), 'utf8'), 'new\n');
  assert.equal(statSync(path.join(f.target, 'a')).mode & 0o777, 0o777, 'mode set on the directory itself');
  assert.ok(lstatSync(path.join(f.target, 'b')).isFile());
  assert.equal(readFileSync(path.join(f.target, 'b'), 'utf8'), 'new\n');
  assert.equal(readFileSync(path.join(f.target, 'd', 'f'), 'utf8'), 'new\n');
  assert.equal(readlinkSync(path.join(f.target, 'c')), 'elsewhere');
});

test('hard links never reach outside through a live link, and --include never follows a symlink of the snapshot', async (t) => {
  const f = await fixture(t);
  const data = await f.blob('linked\n');
  const hl = { links: 2, inode: 42, device_id: 7, size: 7 };
  const sub = await f.tree([file('second', [data], hl)]);
  const rootTree = await f.tree([file('first', [data], hl), link('l', f.outside), dir('s', sub)]);
  mkdirSync(path.join(f.target, 's'), { recursive: true });
  symlinkSync(f.outsideFile, path.join(f.target, 's', 'second'));
  const snap = await f.snapshot(rootTree);
  const res = await new Restorer(f.repo).restore(snap, f.target);
  assert.deepEqual(res.errors, []);
  f.outsideUntouched();
  assert.equal(statSync(path.join(f.target, 's', 'second')).ino, statSync(path.join(f.target, 'first')).ino);
  assert.equal(lstatSync(path.join(f.target, 's', 'second')).isFile(), true);
  // A subpath through the snapshot's symlink "l" is not a path of the snapshot.
  await assert.rejects(new Restorer(f.repo, { include: '/l/anything' }).restore(snap, path.join(f.root, 't2')), NotFoundError);
  f.outsideUntouched();
});
