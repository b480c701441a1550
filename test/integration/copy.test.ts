/**
 * `lifeboat copy` and the `copies:` of lifeboat.yml, through the CLI, against real targets:
 * a local repository with another password (created by --init-to with the source's chunker
 * parameters), an S3 bucket on the local S3 server and a restic REST server. The copies name
 * the same trees, carry `original`, pass `restic check --read-data` and restore (with restic)
 * to the bytes that were backed up; a second copy copies nothing; --only filters by source;
 * a missing target is an error with a hint; and `lifeboat backup` with `copies:` brings the
 * offsite copy up to date and says so in its report (a failed copy makes the run partial).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { WrongPasswordError } from '../../src/core/errors.ts';
import { openRepositoryAt } from '../../src/app/open-repository.ts';
import { listSnapshots } from '../../src/repo/snapshot/snapshot.ts';
import { lifeboat } from '../support/lifeboat-cli.ts';
import type { CliResult } from '../support/lifeboat-cli.ts';
import { missingBinaries } from '../support/require.ts';
import { resticJSON, resticOk } from '../support/restic.ts';
import { startRcloneRestServer } from '../support/rclone.ts';
import type { RestServer } from '../support/rclone.ts';
import { randomBucketName, startS3Server } from '../support/s3-server.ts';
import type { S3Server } from '../support/s3-server.ts';
import { tempDir } from '../support/tmp.ts';
import type { TempDir } from '../support/tmp.ts';

const SRC_PW = 'source-password-4471';
const DST_PW = 'target-password-9902';

interface SnapshotJson { id: string; tree: string; time: string; tags?: string[]; original?: string; paths: string[] }
interface CopyJson { copied: number; skipped: number; created: boolean; same_chunker: boolean; repository: string; snapshots: Array<{ source: string; target: string; status: string }> }
interface BackupReport { status: string; sources: Array<{ source: string; status: string; snapshot_id?: string }>; copies?: Array<{ repository: string; status: string; copied: number; skipped?: number; error?: string }> }

function lastJson<T>(r: CliResult): T {
  assert.equal(r.code, 0, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1) as string) as T;
}

/** path (relative to dir) → SHA-256 of every regular file below dir. */
async function digests(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    const abs = path.join(e.parentPath, e.name);
    out.set(path.relative(dir, abs), createHash('sha256').update(await readFile(abs)).digest('hex'));
  }
  return out;
}

describe('lifeboat copy', { skip: missingBinaries('restic', 'rclone') }, () => {
  let tmp: TempDir;
  let s3: S3Server;
  let rest: RestServer;
  let cfg: string;
  let docs: string;
  let media: string;
  /** Digests of the data at each stack backup, by source snapshot ID. */
  const backedUp = new Map<string, Map<string, string>>();
  let env: NodeJS.ProcessEnv;
  const run = (args: string[], extra: NodeJS.ProcessEnv = {}) => lifeboat(['-c', cfg, ...args], { env: { ...env, ...extra }, cwd: tmp.path });
  const onRepo = (repo: string, password: string, args: string[], extra: NodeJS.ProcessEnv = {}) =>
    lifeboat(['-r', repo, ...args], { password, env: { ...env, ...extra }, cwd: tmp.path });
  /** Snapshots as restic lists them (the oracle), for remote targets. */
  const resticSnapshots = (repo: string, password: string, extra: NodeJS.ProcessEnv = {}) => resticJSON<SnapshotJson[]>(['snapshots'], { repo, password, env: extra, cwd: tmp.path });

  /** Snapshots of a local repository, read in-process (no CLI start-up per look). */
  async function snapshotsOf(dir: string, password: string): Promise<SnapshotJson[]> {
    const opened = await openRepositoryAt(path.resolve(tmp.path, dir), password, { lock: 'none', loadIndex: false, env: {} });
    try {
      return (await listSnapshots(opened.repo)).map((s) => ({ ...s, date: undefined }));
    } finally {
      await opened.close();
    }
  }

  async function stackBackup(): Promise<void> {
    const before = { docs: await digests(docs), media: await digests(media) };
    const report = lastJson<BackupReport>(await run(['backup', '--json']));
    assert.equal(report.status, 'ok');
    for (const s of report.sources) backedUp.set(s.snapshot_id as string, before[s.source as 'docs' | 'media']);
  }

  /**
   * restic restores snapshots of `repo` (all, or the `limit` latest) to the bytes that were
   * backed up in the source snapshot each names as `original`.
   */
  async function assertRestoresLikeSource(repo: string, password: string, extra: NodeJS.ProcessEnv = {}, limit = Infinity): Promise<number> {
    const snaps = await resticSnapshots(repo, password, extra);
    const chosen = snaps.slice(-Math.min(limit, snaps.length));
    for (const s of chosen) {
      const want = backedUp.get(s.original as string);
      assert.ok(want, `copy ${s.id} names a source snapshot (${s.original})`);
      const out = path.join(tmp.path, 'restored', randomBytes(4).toString('hex'));
      await resticOk(['restore', s.id, '--target', out], { repo, password, env: extra, cwd: tmp.path });
      // File sources keep their absolute paths inside the snapshot (beside /<source>/manifest.json).
      const files = s.paths.find((p) => p.startsWith(tmp.path)) as string;
      assert.deepEqual(await digests(path.join(out, files)), want, `snapshot ${s.id} restores the bytes backed up`);
    }
    return chosen.length;
  }

  before(async () => {
    tmp = await tempDir('copy');
    [s3, rest] = await Promise.all([startS3Server(), startRcloneRestServer()]);
    docs = path.join(tmp.path, 'docs');
    media = path.join(tmp.path, 'media');
    await mkdir(path.join(docs, 'sub'), { recursive: true });
    await mkdir(media, { recursive: true });
    await writeFile(path.join(docs, 'readme.txt'), 'the docs\n');
    await writeFile(path.join(docs, 'sub', 'big.bin'), randomBytes(3 << 20));
    await writeFile(path.join(media, 'clip.bin'), randomBytes(1 << 20));
    cfg = path.join(tmp.path, 'lifeboat.yml');
    const yml = (copies: string): string => `
repository:
  url: ./A
  password: { env: SRC_PW }
state_dir: ./state
sources:
  docs:
    type: files
    paths: [${docs}]
  media:
    type: files
    paths: [${media}]
${copies}`;
    await writeFile(cfg, yml(''));
    await writeFile(path.join(tmp.path, 'with-copies.yml'), yml(`copies:\n  - repository:\n      url: ./D\n      password: { env: OFFSITE_PW }\n`));
    env = { SRC_PW, OFFSITE_PW: DST_PW, ...s3.resticEnv() };
    assert.equal((await run(['init'])).code, 0);
    await stackBackup();
    await writeFile(path.join(docs, 'readme.txt'), 'the docs, edited\n');
    await writeFile(path.join(media, 'second.bin'), randomBytes(200_000));
    await stackBackup();
  });
  after(async () => {
    await Promise.allSettled([s3?.stop(), rest?.stop()]);
    await tmp?.cleanup();
  });

  test('a missing target is an error naming --init-to; no password on argv is needed', async () => {
    const r = await run(['copy', '--to', './B'], { LIFEBOAT_TO_PASSWORD: DST_PW });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /no repository at copy target .*B/);
    assert.match(r.stderr, /--init-to/);
    const noPw = await run(['copy', '--to', './B']);
    assert.equal(noPw.code, 2, noPw.stderr);
    assert.match(noPw.stderr, /LIFEBOAT_TO_PASSWORD/);
  });

  test('copy to a local repository with another password: same trees, original set, restic checks and restores it', async () => {
    const src = await snapshotsOf('./A', SRC_PW);
    assert.equal(src.length, 4);
    const c = lastJson<CopyJson>(await run(['copy', '--to', './B', '--init-to', '--json'], { LIFEBOAT_TO_PASSWORD: DST_PW }));
    assert.equal(c.created, true);
    assert.equal(c.same_chunker, true);
    assert.equal(c.copied, 4);
    assert.equal(c.skipped, 0);

    const dst = await snapshotsOf('./B', DST_PW);
    assert.deepEqual(dst.map((s) => s.original).sort(), src.map((s) => s.id).sort());
    for (const s of src) {
      const copy = dst.find((d) => d.original === s.id);
      assert.equal(copy?.tree, s.tree);
      assert.equal(copy?.time, s.time);
      assert.deepEqual(copy?.tags, s.tags);
    }
    // Same chunker parameters, so backups made straight into B dedup against the copies.
    const poly = async (repo: string, pw: string) => (await resticJSON<{ chunker_polynomial: string }>(['cat', 'config'], { repo, password: pw, cwd: tmp.path })).chunker_polynomial;
    const a = await openRepositoryAt(path.join(tmp.path, 'A'), SRC_PW, { lock: 'none', loadIndex: false, env: {} });
    await a.close();
    assert.equal(await poly('./B', DST_PW), a.repo.config.chunker_polynomial);
    // The source password does not open the target.
    await assert.rejects(snapshotsOf('./B', SRC_PW), WrongPasswordError);

    await resticOk(['check', '--read-data'], { repo: path.join(tmp.path, 'B'), password: DST_PW });
    assert.equal(await assertRestoresLikeSource(path.join(tmp.path, 'B'), DST_PW), 4);

    const again = lastJson<CopyJson>(await run(['copy', '--to', './B', '--json'], { LIFEBOAT_TO_PASSWORD: DST_PW }));
    assert.equal(again.copied, 0);
    assert.equal(again.skipped, 4);
    assert.equal((await snapshotsOf('./B', DST_PW)).length, 4);
  });

  test('--only copies the snapshots of the named sources; named snapshot IDs copy just those', async () => {
    const pwFile = path.join(tmp.path, 'target.pw');
    await writeFile(pwFile, `${DST_PW}\n`, { mode: 0o600 });
    const c = lastJson<CopyJson>(await run(['copy', '--to', './C', '--init-to', '--only', 'docs', '--to-password-file', pwFile, '--json']));
    assert.equal(c.copied, 2);
    const dst = await snapshotsOf('./C', DST_PW);
    assert.equal(dst.length, 2);
    for (const s of dst) assert.ok(s.tags?.includes('source:docs'), `only docs: ${s.tags?.join(',')}`);

    const media = (await snapshotsOf('./A', SRC_PW)).filter((s) => s.tags?.includes('source:media'));
    const one = lastJson<CopyJson>(await run(['copy', '--to', './C', '--json', (media[0] as SnapshotJson).id.slice(0, 10)], { LIFEBOAT_TO_PASSWORD: DST_PW }));
    assert.equal(one.copied, 1);
    assert.equal(one.snapshots[0]?.source, media[0]?.id);
    const unknown = await run(['copy', '--to', './C', '--only', 'nope'], { LIFEBOAT_TO_PASSWORD: DST_PW });
    assert.equal(unknown.code, 2, unknown.stderr);
  });

  test('copy to an S3 bucket and to a REST server; restic checks both', async () => {
    const s3Url = s3.resticUrl(randomBucketName(), 'offsite/repo');
    const s3Copy = lastJson<CopyJson>(await run(['copy', '--to', s3Url, '--init-to', '--json'], { LIFEBOAT_TO_PASSWORD: DST_PW }));
    assert.equal(s3Copy.copied, 4);
    await resticOk(['check', '--read-data'], { repo: s3Url, password: DST_PW, env: s3.resticEnv() });
    // Same trees as the source and every blob read back by restic: the bytes are the source's.
    const inS3 = await resticSnapshots(s3Url, DST_PW, s3.resticEnv());
    const inA = await snapshotsOf('./A', SRC_PW);
    assert.deepEqual(inS3.map((s) => `${s.original} ${s.tree}`).sort(), inA.map((s) => `${s.id} ${s.tree}`).sort());
    assert.equal(await assertRestoresLikeSource(s3Url, DST_PW, s3.resticEnv(), 1), 1);

    const restUrl = rest.repoUrl('offsite');
    const restCopy = lastJson<CopyJson>(await run(['copy', '--to', restUrl, '--init-to', '--json'], { LIFEBOAT_TO_PASSWORD: DST_PW }));
    assert.equal(restCopy.copied, 4);
    await resticOk(['check', '--read-data'], { repo: restUrl, password: DST_PW });
    assert.equal((await resticSnapshots(restUrl, DST_PW)).length, 4);
    // The source (S3 copy) → another target: copies of copies keep the first original.
    const chained = lastJson<CopyJson>(await lifeboat(['-r', s3Url, 'copy', '--to', restUrl, '--json'], { password: DST_PW, env: { ...env, LIFEBOAT_TO_PASSWORD: DST_PW }, cwd: tmp.path }));
    assert.equal(chained.copied, 0);
    assert.equal(chained.skipped, 4);
  });

  test('lifeboat backup keeps the copies: target up to date and reports it', async () => {
    const withCopies = ['-c', path.join(tmp.path, 'with-copies.yml')];
    // The target does not exist yet: the backup succeeds, the copy fails, the run is partial.
    const first = await lifeboat([...withCopies, 'backup', '--json'], { env, cwd: tmp.path });
    const r1 = JSON.parse(first.stdout.trim().split('\n').at(-1) as string) as BackupReport;
    assert.deepEqual(r1.sources.map((s) => s.status), ['ok', 'ok']);
    assert.equal(r1.status, 'partial');
    assert.equal(r1.copies?.[0]?.status, 'failed');
    assert.match(r1.copies?.[0]?.error ?? '', /no repository at copy target/);
    assert.match(first.stderr, /--init-to/);
    for (const s of r1.sources) backedUp.set(s.snapshot_id as string, await digests(s.source === 'docs' ? docs : media));

    // `lifeboat copy` without --to syncs the copies: of lifeboat.yml (here after creating D).
    assert.equal((await onRepo('./D', DST_PW, ['init'])).code, 0);
    await writeFile(path.join(media, 'third.bin'), randomBytes(100_000));
    const before = await digests(media);
    const second = await lifeboat([...withCopies, 'backup', '--json', '--only', 'media'], { env, cwd: tmp.path });
    const r2 = lastJson<BackupReport>(second);
    assert.equal(r2.status, 'ok');
    backedUp.set(r2.sources[0]?.snapshot_id as string, before);
    assert.equal(r2.copies?.length, 1);
    assert.equal(r2.copies?.[0]?.status, 'ok');
    // Every media snapshot, including those of earlier runs, is now offsite.
    const mediaInA = (await snapshotsOf('./A', SRC_PW)).filter((s) => s.tags?.includes('source:media'));
    assert.equal(r2.copies?.[0]?.copied, mediaInA.length);
    const saved = JSON.parse(await readFile(path.join(tmp.path, 'state', 'reports', 'latest-backup.json'), 'utf8')) as BackupReport;
    assert.deepEqual(saved.copies, r2.copies);

    const sync = lastJson<{ copies: Array<{ status: string; copied: number; skipped: number }> }>(await lifeboat([...withCopies, 'copy', '--json'], { env, cwd: tmp.path }));
    assert.equal(sync.copies[0]?.status, 'ok');
    const all = await snapshotsOf('./A', SRC_PW);
    assert.equal(sync.copies[0]?.copied, all.length - mediaInA.length, 'the docs snapshots follow');
    assert.equal(sync.copies[0]?.skipped, mediaInA.length);
    await resticOk(['check', '--read-data'], { repo: path.join(tmp.path, 'D'), password: DST_PW });
    const inD = await snapshotsOf('./D', DST_PW);
    assert.deepEqual(inD.map((s) => `${s.original} ${s.tree}`).sort(), all.map((s) => `${s.id} ${s.tree}`).sort());
    assert.equal(await assertRestoresLikeSource(path.join(tmp.path, 'D'), DST_PW, {}, 1), 1);
  });
});
