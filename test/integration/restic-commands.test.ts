/**
 * restic's inspection commands under lifeboat, with restic 0.14 as the oracle on the same
 * repository: `list`, `diff`, `find` print what restic prints; `tag` changes only the tags
 * (unknown fields of newer restic survive) and restic still reads and checks the result.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { lifeboat } from '../support/lifeboat-cli.ts';
import { restic, resticOk } from '../support/restic.ts';
import { missingBinaries } from '../support/require.ts';
import { tempDir } from '../support/tmp.ts';
import type { TempDir } from '../support/tmp.ts';
import { createLocalStorage } from '../../src/storage/local/local-storage.ts';
import { Repository } from '../../src/repo/repository.ts';
import { loadSnapshot } from '../../src/repo/snapshot/snapshot.ts';

const PASSWORD = 'correct horse battery staple';

const sorted = (s: string): string[] => s.trim().split('\n').filter(Boolean).sort();
/**
 * restic 0.14 prints find's results in the order its parallel snapshot loading happens to
 * finish; lifeboat prints newest first, as restic 0.17+ does. Compared in snapshot-ID order.
 */
const bySnapshot = (json: string): unknown[] => (JSON.parse(json) as Array<{ snapshot: string }>).sort((a, b) => (a.snapshot < b.snapshot ? -1 : a.snapshot > b.snapshot ? 1 : 0));

describe('restic commands: list, diff, find, tag', { skip: missingBinaries('restic') }, () => {
  let tmp: TempDir;
  let repo: string;
  let src: string;
  const ids: string[] = [];
  const lb = (args: string[]) => lifeboat(['-r', repo, ...args], { password: PASSWORD });
  const rs = (args: string[]) => resticOk(args, { repo, password: PASSWORD });

  before(async () => {
    tmp = await tempDir('restic-commands');
    repo = path.join(tmp.path, 'repo');
    src = path.join(tmp.path, 'src');
    await mkdir(path.join(src, 'a', 'deep'), { recursive: true });
    await mkdir(path.join(src, 'b'));
    await writeFile(path.join(src, 'a', 'one.txt'), 'one\n');
    await writeFile(path.join(src, 'a', 'deep', 'config.json'), '{}\n');
    await writeFile(path.join(src, 'b', 'two.txt'), 'two\n');
    assert.equal((await lb(['init'])).code, 0);
    for (const step of [
      async () => undefined,
      async () => {
        await writeFile(path.join(src, 'b', 'two.txt'), 'two, changed\n');
        await writeFile(path.join(src, 'a', 'three.yml'), 'x: 3\n');
      },
    ]) {
      await step();
      const r = await lb(['backup', src, '--json']);
      assert.equal(r.code, 0, r.stderr);
      ids.push(JSON.parse(r.stdout.trim().split('\n').at(-1) as string).snapshot_id as string);
    }
  });
  after(() => tmp.cleanup());

  test('list prints the IDs restic lists, for every type', async () => {
    for (const kind of ['snapshots', 'packs', 'index', 'keys', 'blobs']) {
      const [a, b] = [await lb(['list', kind]), await rs(['list', kind])];
      assert.equal(a.code, 0, a.stderr);
      assert.deepEqual(sorted(a.stdout), sorted(b.stdout), kind);
    }
    const bad = await lb(['list', 'trees']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /cannot list "trees"/);
  });

  test('diff --json prints restic 0.14\'s changes and statistics, byte for byte', async () => {
    const [a, b] = [ids[0] as string, ids[1] as string];
    const ours = await lb(['--json', 'diff', a.slice(0, 8), b.slice(0, 8)]);
    assert.equal(ours.code, 0, ours.stderr);
    const theirs = await rs(['--json', 'diff', a.slice(0, 8), b.slice(0, 8)]);
    assert.equal(ours.stdout, theirs.stdout);
    assert.match(ours.stdout, /"modifier":"M"/);
    // Subfolder syntax: only what changed below /…/src/a.
    const sub = `${src}/a`.replace(/^\//, '');
    const ourSub = await lb(['--json', 'diff', `${a}:${sub}`, `${b}:${sub}`]);
    assert.equal(ourSub.code, 0, ourSub.stderr);
    assert.deepEqual(ourSub.stdout.trim().split('\n').map((l) => JSON.parse(l)).filter((c) => c.message_type === 'change'), [{ message_type: 'change', path: '/three.yml', modifier: '+' }]);
  });

  test('find --json matches restic for patterns, --blob, --tree and --pack', async () => {
    for (const args of [['*.json'], ['two*', '*.yml'], ['a/deep'], [`${src}/b/*`], ['**/one.txt'], ['-i', 'ONE.TXT']]) {
      const ours = await lb(['--json', 'find', ...args]);
      assert.equal(ours.code, 0, ours.stderr);
      const theirs = await rs(['--json', 'find', ...args]);
      assert.deepEqual(bySnapshot(ours.stdout), bySnapshot(theirs.stdout), args.join(' '));
      if (args[0] === '*.json') assert.equal(JSON.parse(ours.stdout).length, 2, 'config.json is in both snapshots');
    }
    const blobs = (await rs(['list', 'blobs'])).stdout.trim().split('\n').map((l) => l.split(' '));
    for (const [i, [type, id]] of blobs.entries()) {
      const flag = type === 'tree' ? '--tree' : '--blob';
      // restic takes whole IDs and 8-digit short IDs, and ignores other prefixes.
      const given = (id as string).slice(0, [8, 64, 10][i % 3]);
      const ours = await lb(['--json', 'find', flag, given]);
      const theirs = await rs(['--json', 'find', flag, given]);
      assert.deepEqual(bySnapshot(ours.stdout), bySnapshot(theirs.stdout), `${flag} ${given}`);
    }
    // restic 0.14 looks for a pack's data blobs only; lifeboat finds its trees too (as 0.17+).
    let treesFound = 0;
    for (const [i, pack] of sorted((await rs(['list', 'packs'])).stdout).entries()) {
      const given = i % 2 === 0 ? pack : pack.slice(0, 8);
      const ours = JSON.parse((await lb(['--json', 'find', '--pack', given])).stdout) as Array<{ object_type: string; snapshot: string }>;
      const theirs = (await rs(['--json', 'find', '--pack', given])).stdout;
      assert.deepEqual(bySnapshot(JSON.stringify(ours.filter((h) => h.object_type === 'blob'))), bySnapshot(theirs), `--pack ${given}`);
      treesFound += ours.filter((h) => h.object_type === 'tree').length;
    }
    assert.ok(treesFound > 0);
  });

  test('tag keeps fields written by newer restic or rustic; restic reads and checks the result', async () => {
    // A snapshot as a newer tool writes it: a field lifeboat does not know, and a summary.
    const storage = createLocalStorage(repo);
    const r = await Repository.open(storage, PASSWORD);
    const base = await loadSnapshot(r, ids[1] as string);
    const { id: _id, date: _date, ...doc } = base;
    const future = { ...doc, tags: ['keep'], delete_protection: { until: '2099-01-01T00:00:00Z' }, label: 'weekly' };
    const futureId = await r.saveUnpacked('snapshots', future);
    await storage.close();

    const t = await lb(['--json', 'tag', '--add', 'new,second', '--remove', 'keep', futureId.slice(0, 8)]);
    assert.equal(t.code, 0, t.stderr);
    const lines = t.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(lines[0].message_type, 'changed');
    assert.equal(lines[0].old_snapshot_id, futureId);
    assert.deepEqual(lines.at(-1), { message_type: 'summary', changed_snapshots: 1 });
    const newId = lines[0].new_snapshot_id as string;

    const cat = JSON.parse((await rs(['cat', 'snapshot', newId])).stdout);
    assert.deepEqual(cat.tags, ['new', 'second']);
    assert.equal(cat.original, futureId);
    assert.equal(cat.tree, base.tree);
    // restic 0.14 drops fields it does not know when it prints; the file itself keeps them.
    const raw = await Repository.open(createLocalStorage(repo), PASSWORD).then((x) => x.loadUnpacked('snapshots', newId)) as Record<string, unknown>;
    assert.deepEqual(raw.delete_protection, { until: '2099-01-01T00:00:00Z' });
    assert.equal(raw.label, 'weekly');
    assert.deepEqual(raw.summary, base.summary);
    assert.equal(raw.program_version, base.program_version);
    assert.deepEqual(sorted((await rs(['list', 'snapshots'])).stdout), [ids[0], ids[1], newId].sort());
    assert.ok(!(await rs(['list', 'snapshots'])).stdout.includes(futureId), 'the old snapshot file is gone');

    // Nothing to change: no new snapshot, exit 0.
    const again = await lb(['tag', '--add', 'new', newId]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /no snapshots were modified/);
    // --set replaces; --set "" clears (restic 0.17+; 0.14 ignored it). `original` stays the first.
    const set = await lb(['--json', 'tag', '--set', 'x,y', newId]);
    const setId = JSON.parse(set.stdout.trim().split('\n')[0] as string).new_snapshot_id as string;
    const cleared = await lb(['--json', 'tag', '--set', '', setId]);
    const clearedId = JSON.parse(cleared.stdout.trim().split('\n')[0] as string).new_snapshot_id as string;
    const last = JSON.parse((await rs(['cat', 'snapshot', clearedId])).stdout);
    assert.equal(last.tags, undefined);
    assert.equal(last.original, futureId);
    const mixed = await lb(['tag', '--set', 'a', '--add', 'b', clearedId]);
    assert.equal(mixed.code, 2);
    const chk = await restic(['check'], { repo, password: PASSWORD });
    assert.equal(chk.code, 0, chk.stdout + chk.stderr);
  });

  test('a snapshot lifeboat writes carries restic 0.17+\'s summary and program_version, and restic 0.14 reads it', async () => {
    const snaps = JSON.parse((await rs(['snapshots', '--json'])).stdout) as Array<Record<string, unknown>>;
    assert.ok(snaps.some((s) => s.id === ids[0]));
    // restic 0.14 knows neither field and leaves them out of its output; the file has them.
    const raw = await Repository.open(createLocalStorage(repo), PASSWORD).then((x) => x.loadUnpacked('snapshots', ids[0] as string)) as Record<string, unknown>;
    assert.match(raw.program_version as string, /^lifeboat \d+\.\d+\.\d+/);
    const summary = raw.summary as Record<string, number>;
    assert.equal(summary.files_new, 3);
    assert.equal(summary.total_files_processed, 3);
    assert.ok(summary.data_blobs > 0 && summary.tree_blobs > 0);
  });
});

describe('rewrite', { skip: missingBinaries('restic') }, () => {
  let tmp: TempDir;
  let repo: string;
  let src: string;
  const lb = (args: string[]) => lifeboat(['-r', repo, ...args], { password: PASSWORD });
  const rs = (args: string[]) => resticOk(args, { repo, password: PASSWORD });
  const lsPaths = async (id: string): Promise<string[]> =>
    (await rs(['ls', '--json', id])).stdout.trim().split('\n').slice(1).map((l) => JSON.parse(l).path as string).sort();

  before(async () => {
    tmp = await tempDir('rewrite');
    repo = path.join(tmp.path, 'repo');
    src = path.join(tmp.path, 'src');
    for (const d of ['cache/deep', 'keep/cache', 'logs', 'data']) await mkdir(path.join(src, d), { recursive: true });
    for (const f of ['cache/deep/x.bin', 'keep/cache/y.bin', 'keep/z.txt', 'logs/a.log', 'logs/b.txt', 'data/secret.key', 'data/ok.txt', 'top.log']) {
      await writeFile(path.join(src, f), `content of ${f}\n`);
    }
    assert.equal((await lb(['init'])).code, 0);
  });
  after(() => tmp.cleanup());

  test('rewrite --exclude leaves out what restic 0.14\'s backup --exclude leaves out; restic checks and restores it', async () => {
    const b = await lb(['backup', src, '--json']);
    assert.equal(b.code, 0, b.stderr);
    const full = JSON.parse(b.stdout.trim().split('\n').at(-1) as string).snapshot_id as string;
    const patterns = ['*.log', `${src}/keep/cache`, 'data/secret.*'];
    const excludeFile = path.join(tmp.path, 'excludes');
    await writeFile(excludeFile, `# comment\n\n${patterns[2]}\n`);

    const r = await lb(['--json', 'rewrite', '-e', patterns[0] as string, '--exclude', patterns[1] as string, '--exclude-file', excludeFile, full]);
    assert.equal(r.code, 0, r.stderr);
    const msgs = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(msgs[0].old_snapshot_id, full);
    const rewritten = msgs[0].new_snapshot_id as string;

    // The oracle: restic's own backup with the same excludes.
    const rb = await rs(['--json', 'backup', src, ...patterns.flatMap((p) => ['--exclude', p])]);
    const oracle = JSON.parse(rb.stdout.trim().split('\n').at(-1) as string).snapshot_id as string;
    assert.deepEqual(await lsPaths(rewritten), await lsPaths(oracle));
    assert.ok((await lsPaths(full)).length > (await lsPaths(rewritten)).length);

    const snaps = JSON.parse((await rs(['snapshots', '--json'])).stdout) as Array<{ id: string; tags?: string[]; original?: string }>;
    const mine = snaps.find((s) => s.id === rewritten);
    assert.deepEqual(mine?.tags, ['rewrite']);
    assert.equal(mine?.original, full);
    assert.ok(snaps.some((s) => s.id === full), 'without --forget the original stays');
    const raw = await Repository.open(createLocalStorage(repo), PASSWORD).then((x) => x.loadUnpacked('snapshots', rewritten)) as { summary: { total_files_processed: number } };
    assert.equal(raw.summary.total_files_processed, 4); // keep/z.txt, logs/b.txt, data/ok.txt, cache/deep/x.bin

    const chk = await restic(['check', '--read-data'], { repo, password: PASSWORD });
    assert.equal(chk.code, 0, chk.stdout + chk.stderr);
    const target = path.join(tmp.path, 'restored');
    await rs(['restore', rewritten, '--target', target]);
    assert.equal(await import('node:fs/promises').then((fs) => fs.readFile(path.join(target, src, 'keep', 'z.txt'), 'utf8')), 'content of keep/z.txt\n');
  });

  test('rewrite --forget replaces the snapshot; nothing to exclude changes nothing; no excludes is a usage error', async () => {
    const b = await lb(['backup', src, '--json', '--tag', 'f']);
    const id = JSON.parse(b.stdout.trim().split('\n').at(-1) as string).snapshot_id as string;
    const none = await lb(['rewrite', '-e', 'no-such-file', id]);
    assert.equal(none.code, 0, none.stderr);
    assert.match(none.stdout, /no snapshots were modified/);
    const dry = await lb(['rewrite', '--dry-run', '--forget', '-e', '*.txt', id]);
    assert.match(dry.stdout, /would modify 1 snapshots/);
    assert.ok((await rs(['list', 'snapshots'])).stdout.includes(id), 'a dry run changes nothing');
    const r = await lb(['--json', 'rewrite', '--forget', '-e', '*.txt', id]);
    assert.equal(r.code, 0, r.stderr);
    const newId = JSON.parse(r.stdout.trim().split('\n')[0] as string).new_snapshot_id as string;
    const list = (await rs(['list', 'snapshots'])).stdout;
    assert.ok(!list.includes(id) && list.includes(newId));
    const snap = JSON.parse((await rs(['cat', 'snapshot', newId])).stdout);
    assert.deepEqual(snap.tags, ['f'], 'with --forget no "rewrite" tag is added');
    assert.ok((await lsPaths(newId)).every((p) => !p.endsWith('.txt')));
    const usage = await lb(['rewrite', id]);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /nothing to do/);
    const chk = await restic(['check'], { repo, password: PASSWORD });
    assert.equal(chk.code, 0, chk.stdout + chk.stderr);
  });
});

describe('snapshot summary', { skip: missingBinaries('restic') }, () => {
  let tmp: TempDir;
  after(() => tmp?.cleanup());

  test('the summary counts what restic 0.14\'s backup --json counts on the same tree', async () => {
    tmp = await tempDir('summary');
    const src = path.join(tmp.path, 'src');
    await mkdir(path.join(src, 'a', 'deep'), { recursive: true });
    await mkdir(path.join(src, 'b'));
    for (const f of ['a/one', 'a/deep/two', 'b/three', 'four']) await writeFile(path.join(src, f), `${f}\n`);
    // Reads leave an atime after the mtime alone (relatime): both tools see the same trees.
    const { utimes } = await import('node:fs/promises');
    const pin = async (): Promise<void> => {
      for (const p of ['a/one', 'a/deep/two', 'b/three', 'four', 'a/deep', 'a', 'b', '.']) await utimes(path.join(src, p), new Date('2031-01-01'), new Date('2021-01-01'));
    };
    await pin();
    const ours = path.join(tmp.path, 'ours');
    const theirs = path.join(tmp.path, 'theirs');
    assert.equal((await lifeboat(['-r', ours, 'init'], { password: PASSWORD })).code, 0);
    await resticOk(['init', '--repository-version', '2'], { repo: theirs, password: PASSWORD });
    const FIELDS = ['files_new', 'files_changed', 'files_unmodified', 'dirs_new', 'dirs_changed', 'dirs_unmodified', 'data_blobs', 'tree_blobs', 'total_files_processed', 'total_bytes_processed'];
    const pick = (o: Record<string, unknown>): Record<string, unknown> => Object.fromEntries(FIELDS.map((k) => [k, o[k]]));
    for (const step of [async () => undefined, async () => {
      await writeFile(path.join(src, 'b', 'three'), 'three, changed\n');
      await utimes(path.join(src, 'b', 'three'), new Date('2031-01-01'), new Date('2022-01-01'));
    }]) {
      await step();
      const r = await resticOk(['--json', 'backup', src], { repo: theirs, password: PASSWORD });
      const expected = JSON.parse(r.stdout.trim().split('\n').at(-1) as string) as Record<string, unknown>;
      const b = await lifeboat(['-r', ours, '--json', 'backup', src], { password: PASSWORD });
      assert.equal(b.code, 0, b.stderr);
      const id = JSON.parse(b.stdout.trim().split('\n').at(-1) as string).snapshot_id as string;
      const raw = await Repository.open(createLocalStorage(ours), PASSWORD).then((x) => x.loadUnpacked('snapshots', id)) as { summary: Record<string, unknown> };
      assert.deepEqual(pick(raw.summary), pick(expected));
    }
  });
});
