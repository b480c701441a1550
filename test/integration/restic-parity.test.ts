/**
 * The same material through restic 0.14 (the oracle) and lifeboat gives the same answer: what
 * a relative backup path records in the tree, what `--exclude` patterns of several path parts
 * leave out, what `restore --include/--exclude` writes. restic reads both repositories, so the
 * listings compared are restic's own.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { lifeboat } from '../support/lifeboat-cli.ts';
import { missingBinaries } from '../support/require.ts';
import { restic, resticInit, resticJSON, resticJSONLines, resticOk } from '../support/restic.ts';
import { tempDir } from '../support/tmp.ts';
import type { TempDir } from '../support/tmp.ts';

const PW = 'parity-pw';

describe('restic 0.14 parity on the same material', { skip: missingBinaries('restic') }, () => {
  let tmp: TempDir;
  let root: string;
  let rRepo: string;
  let lRepo: string;
  const r = (args: string[], cwd?: string) => resticOk(args, { repo: rRepo, password: PW, cwd });
  const l = async (args: string[], cwd?: string) => {
    const res = await lifeboat(['-r', lRepo, ...args], { password: PW, cwd });
    assert.equal(res.code, 0, `lifeboat ${args.join(' ')}: ${res.stderr}`);
    return res;
  };
  /** The paths restic lists for the latest snapshot tagged `tag` in `repo`. */
  const listing = async (repo: string, tag: string): Promise<string[]> =>
    (await resticJSONLines<{ path?: string; struct_type?: string }>(['ls', 'latest', '--tag', tag], { repo, password: PW }))
      .filter((e) => e.struct_type === 'node').map((e) => e.path as string).sort();
  /** Backs up with both tools (same args, same cwd) and returns both listings. */
  const both = async (tag: string, args: string[], cwd: string): Promise<{ restic: string[]; lifeboat: string[] }> => {
    await r(['backup', '--tag', tag, ...args], cwd);
    await l(['backup', '--tag', tag, ...args], cwd);
    return { restic: await listing(rRepo, tag), lifeboat: await listing(lRepo, tag) };
  };

  before(async () => {
    tmp = await tempDir('parity');
    root = path.join(tmp.path, 'work');
    rRepo = path.join(tmp.path, 'restic-repo');
    lRepo = path.join(tmp.path, 'lifeboat-repo');
    for (const d of ['src/sub/deep', 'src/cache', 'src/other/sub']) await mkdir(path.join(root, d), { recursive: true });
    for (const f of ['src/a.txt', 'src/sub/b.txt', 'src/sub/c.log', 'src/sub/deep/d.txt', 'src/cache/e.bin', 'src/other/sub/f.log', 'src/other/g.txt']) {
      await writeFile(path.join(root, f), `${f}\n`);
    }
    spawnSync('mkfifo', ['-m', '0640', path.join(root, 'src/sub/pipe')]);
    await resticInit({ repo: rRepo, password: PW });
    await l(['init']);
  });
  after(() => tmp.cleanup());

  test('a relative path records its own components only, as restic', async () => {
    const plain = await both('rel', ['src'], root);
    assert.ok(plain.restic.includes('/src/a.txt'), plain.restic.join(' '));
    assert.deepEqual(plain.lifeboat, plain.restic);
    const up = await both('rel-up', ['../../src/other'], path.join(root, 'src/sub'));
    assert.deepEqual(up.lifeboat, up.restic);
    const dot = await both('rel-dot', ['.'], path.join(root, 'src/other'));
    assert.deepEqual(dot.lifeboat, dot.restic);
    const snaps = await resticJSON<Array<{ paths: string[] }>>(['snapshots', '--tag', 'rel'], { repo: lRepo, password: PW });
    assert.deepEqual(snaps[0]?.paths, [path.join(root, 'src')], 'the snapshot records the absolute path');
  });

  test('--exclude patterns of several parts, anchored or not, with ** and classes, exclude what restic excludes', async () => {
    const patterns = ['sub/*.log', 'src/sub/deep', `${root}/src/cache`, 'other/**/f.[lx]og', '*.none'];
    const ex = await both('ex', [root, ...patterns.flatMap((p) => ['--exclude', p])], root);
    assert.ok(!ex.restic.some((p) => p.endsWith('c.log') || p.includes('deep') || p.includes('cache') || p.endsWith('f.log')), ex.restic.join(' '));
    assert.deepEqual(ex.lifeboat, ex.restic);
  });

  test('restore --include/--exclude: the same files as restic, under their full path', async () => {
    await both('inc', ['src'], root);
    for (const [name, args] of [
      ['include', ['--include', 'sub/*.txt', '--include', '/src/other']],
      ['exclude', ['--exclude', '*.log', '--exclude', '/src/sub/deep']],
    ] as const) {
      const rt = path.join(tmp.path, `r-${name}`);
      const lt = path.join(tmp.path, `l-${name}`);
      await r(['restore', 'latest', '--tag', 'inc', '--target', rt, ...args]);
      await l(['restore', 'latest', '--tag', 'inc', '--target', lt, ...args]);
      const files = async (d: string) => ((await readdir(d, { recursive: true })) as string[]).sort();
      assert.deepEqual(await files(lt), await files(rt), name);
    }
    const mixed = await lifeboat(['-r', lRepo, 'restore', 'latest', '--target', path.join(tmp.path, 'x'), '--include', 'a', '--exclude', 'b'], { password: PW });
    assert.equal(mixed.code, 2, 'restic 0.14 refuses --include with --exclude too');
  });

  test('ls --json prints the lines restic prints: the snapshot, then its nodes with their fields', async () => {
    await r(['backup', '--tag', 'ls', 'src'], root);
    const theirs = (await resticOk(['--json', 'ls', 'latest', '--tag', 'ls'], { repo: rRepo, password: PW })).stdout.trim().split('\n');
    const ours = (await lifeboat(['-r', rRepo, '--json', 'ls', 'latest', '--tag', 'ls'], { password: PW })).stdout.trim().split('\n');
    assert.equal(JSON.parse(ours[0] as string).struct_type, 'snapshot');
    assert.ok(theirs.some((l) => l.includes('"type":"fifo"') && l.includes('"permissions":"prw-r-----"')), theirs.join('\n'));
    assert.deepEqual(ours.map((l) => JSON.parse(l) as unknown), theirs.map((l) => JSON.parse(l) as unknown));
  });

  test('snapshots --latest N is per host and path set, and --group-by groups as restic', async () => {
    await r(['backup', '--tag', 'again', 'src'], root);
    for (const args of [['--latest', '1'], ['--latest', '2'], ['--group-by', 'host,paths', '--latest', '1'], ['--group-by', 'tags']]) {
      const theirs = JSON.parse((await resticOk(['--json', 'snapshots', ...args], { repo: rRepo, password: PW })).stdout) as unknown;
      const ours = await lifeboat(['-r', rRepo, '--json', 'snapshots', ...args], { password: PW });
      assert.equal(ours.code, 0, ours.stderr);
      // restic prints groups in Go's map order (random): compare them sorted.
      const sorted = (v: unknown): unknown => (args.includes('--group-by') ? (v as Array<{ group_key: unknown }>).sort((a, b) => JSON.stringify(a.group_key).localeCompare(JSON.stringify(b.group_key))) : v);
      assert.deepEqual(sorted(JSON.parse(ours.stdout)), sorted(theirs), args.join(' '));
    }
  });

  test('stats --json in every mode counts what restic counts', async () => {
    for (const mode of ['restore-size', 'files-by-contents', 'blobs-per-file', 'raw-data']) {
      for (const args of [['--mode', mode], ['--mode', mode, 'latest', '--tag', 'ls']]) {
        const theirs = JSON.parse((await resticOk(['--json', 'stats', ...args], { repo: rRepo, password: PW })).stdout) as Record<string, number>;
        const ours = await lifeboat(['-r', rRepo, '--json', 'stats', ...args], { password: PW });
        assert.equal(ours.code, 0, ours.stderr);
        const got = JSON.parse(ours.stdout) as Record<string, number>;
        // restic 0.14 prints total_file_count 0 in raw-data mode; >= 0.15 leaves it out and adds compression fields.
        for (const k of Object.keys(theirs).filter((k) => !(mode === 'raw-data' && k === 'total_file_count'))) assert.equal(got[k], theirs[k], `${args.join(' ')}: ${k}`);
      }
    }
  });

  test('copy: -r is the destination and --from-repo the source, as restic', async () => {
    const rDest = path.join(tmp.path, 'restic-dest');
    const lDest = path.join(tmp.path, 'lifeboat-dest');
    await resticInit({ repo: rDest, password: 'dest-pw' });
    await resticOk(['copy', '--from-repo', rRepo], { repo: rDest, password: 'dest-pw', env: { RESTIC_FROM_PASSWORD: PW } });
    assert.equal((await lifeboat(['-r', lDest, 'init'], { password: 'dest-pw' })).code, 0);
    const c = await lifeboat(['-r', lDest, 'copy', '--from-repo', rRepo], { password: 'dest-pw', env: { LIFEBOAT_FROM_PASSWORD: PW } });
    assert.equal(c.code, 0, c.stderr);
    const ids = async (repo: string, password: string) => (await resticJSON<Array<{ tree: string; time: string }>>(['snapshots'], { repo, password })).map((x) => `${x.time} ${x.tree}`).sort();
    const source = await ids(rRepo, PW);
    assert.ok(source.length > 3);
    assert.deepEqual(await ids(rDest, 'dest-pw'), source);
    assert.deepEqual(await ids(lDest, 'dest-pw'), source);
    assert.deepEqual((await ids(rRepo, PW)), source, 'the source is unchanged');
  });

  test('a missing repository: restic 0.14 exits 1 (restic 0.17+: 10), lifeboat 10', async () => {
    const res = await restic(['snapshots'], { repo: path.join(tmp.path, 'none'), password: PW });
    assert.notEqual(res.code, 0);
    const lb = await lifeboat(['-r', path.join(tmp.path, 'none'), 'snapshots'], { password: PW });
    assert.equal(lb.code, 10);
  });
});
