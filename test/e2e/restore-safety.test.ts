/**
 * The in-place stack restore through the CLI, with stores that need no server (files, command):
 * a pre-restore safety snapshot is taken and undoes the restore in one command, it is never
 * chosen as "latest", a failing one stops the restore before anything is replaced; fingerprints
 * are taken before after-hooks restart an application that writes on start; an interrupted
 * stack backup exits 130, runs its after-hooks, counts unfinished sources as skipped and
 * leaves no process of its commands behind.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { access, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { once } from 'node:events';
import { lifeboat, spawnLifeboat } from '../support/lifeboat-cli.ts';
import type { CliResult } from '../support/lifeboat-cli.ts';
import { tempDir } from '../support/tmp.ts';
import type { TempDir } from '../support/tmp.ts';

const LB_PW = 'safety-test-pw';

interface Report {
  status: string;
  interrupted?: boolean;
  sources: Array<{ source: string; status: string; snapshot_id?: string; error?: string; safety_snapshot_id?: string; undo?: string }>;
}

const json = <T>(r: CliResult): T => JSON.parse(r.stdout.trim().split('\n').at(-1) as string) as T;

describe('in-place stack restore with a safety snapshot', () => {
  let tmp: TempDir;
  let cfg: string;
  const run = (args: string[]) => lifeboat(['-c', cfg, ...args], { env: { LB_PW }, cwd: tmp.path });
  const file = (...p: string[]) => path.join(tmp.path, ...p);
  let backupIds: Map<string, string>;

  before(async () => {
    tmp = await tempDir('restore-safety');
    await mkdir(file('configs'));
    await writeFile(file('configs', 'app.toml'), 'v1\n');
    await writeFile(file('notes.txt'), 'notes v1\n');
    cfg = file('lifeboat.yml');
    await writeFile(cfg, `
repository: { url: ./repo, password: { env: LB_PW } }
state_dir: ./state
sources:
  configs:
    type: files
    paths: [./configs]
  notes:
    type: command
    backup_command: cat notes.txt
    restore_command: cat > notes.txt
    restore:
      hooks: { before: ["echo stop >> hooks.log"], after: ["echo started-and-wrote >> notes.txt", "echo start >> hooks.log"] }
`);
    assert.equal((await run(['init'])).code, 0);
    const b = await run(['backup', '--json']);
    assert.equal(b.code, 0, b.stderr + b.stdout);
    backupIds = new Map(json<Report>(b).sources.map((s) => [s.source, s.snapshot_id as string]));
  });
  after(async () => {
    await tmp?.cleanup();
  });

  test('the fingerprint is compared before the after-hook starts an app that writes on start', async () => {
    await writeFile(file('notes.txt'), 'notes changed\n');
    const r = await run(['restore', '--only', 'notes', '--yes', '--json']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.equal(json<Report>(r).sources[0]?.status, 'ok');
    assert.equal(await readFile(file('notes.txt'), 'utf8'), 'notes v1\nstarted-and-wrote\n');
    assert.equal(await readFile(file('hooks.log'), 'utf8'), 'stop\nstart\n');
  });

  test('an in-place restore keeps what it replaced; the printed undo command puts it back', async () => {
    await writeFile(file('configs', 'app.toml'), 'v2 live\n');
    const plan = await run(['restore', '--only', 'configs', '--dry-run', '--json']);
    assert.deepEqual(json<{ plan: Array<{ safety_snapshot: boolean }> }>(plan).plan.map((p) => p.safety_snapshot), [true]);
    const r = await run(['restore', '--only', 'configs', '--yes', '--json']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const s = json<Report>(r).sources[0];
    assert.equal(s?.status, 'ok');
    assert.equal(await readFile(file('configs', 'app.toml'), 'utf8'), 'v1\n');
    assert.ok(s?.safety_snapshot_id);
    assert.equal(s?.undo, `lifeboat restore --only configs --snapshot ${s?.safety_snapshot_id.slice(0, 8)}`);
    const tagged = await run(['snapshots', '--tag', 'pre-restore', '--json']);
    const pre = JSON.parse(tagged.stdout) as Array<{ id: string; tags: string[] }>;
    assert.ok(pre.some((p) => p.id === s.safety_snapshot_id && p.tags.includes('source:configs')));

    // "latest" never picks the newer safety snapshot.
    const again = await run(['restore', '--only', 'configs', '--dry-run', '--json']);
    assert.equal(json<{ plan: Array<{ snapshot_id: string }> }>(again).plan[0]?.snapshot_id, backupIds.get('configs'));

    const undo = await run([...(s.undo.split(' ').slice(1)), '--yes', '--json']);
    assert.equal(undo.code, 0, undo.stderr + undo.stdout);
    assert.equal(await readFile(file('configs', 'app.toml'), 'utf8'), 'v2 live\n');
  });

  test('the text output prints the undo command', async () => {
    const r = await run(['restore', '--only', 'configs', '--yes']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout + r.stderr, /to undo: lifeboat restore --only configs --snapshot [0-9a-f]{8}/);
  });

  test('a failing safety snapshot stops the restore before anything is replaced and names --no-safety-snapshot', async () => {
    await rm(file('notes.txt'));
    const r = await run(['restore', '--only', 'notes', '--yes']);
    assert.equal(r.code, 1, r.stderr + r.stdout);
    assert.match(r.stdout + r.stderr, /safety snapshot .* nothing was restored.*--no-safety-snapshot/s);
    // Neither restore_command nor a hook ran: the application was not even stopped.
    await assert.rejects(access(file('notes.txt')), /ENOENT/);
    assert.equal(await readFile(file('hooks.log'), 'utf8'), 'stop\nstart\n');
    const ok = await run(['restore', '--only', 'notes', '--yes', '--no-safety-snapshot', '--json']);
    assert.equal(ok.code, 0, ok.stderr + ok.stdout);
    assert.equal(json<Report>(ok).sources[0]?.safety_snapshot_id, undefined);
    assert.equal(await readFile(file('notes.txt'), 'utf8'), 'notes v1\nstarted-and-wrote\n');
  });
});

/** Waits until the command wrote its background job's pid, and returns it. */
async function backgroundPid(file: string): Promise<number> {
  for (;;) {
    const pid = await readFile(file, 'utf8').catch(() => '');
    if (pid.endsWith('\n')) return Number(pid);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function isRunning(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** A group signal reaches each member on its own: wait (bounded) for a background job to end. */
async function endsSoon(pid: number): Promise<boolean> {
  for (let i = 0; i < 300 && isRunning(pid); i++) await new Promise((r) => setTimeout(r, 10));
  return !isRunning(pid);
}

describe('interrupting a stack backup or restore', () => {
  let tmp: TempDir;

  before(async () => {
    tmp = await tempDir('backup-interrupt');
  });
  after(async () => {
    await tmp?.cleanup();
  });

  test('SIGTERM: exit 130, after-hooks run, unfinished sources skipped, the command\'s whole process group gone', async () => {
    const cfg = path.join(tmp.path, 'lifeboat.yml');
    await writeFile(cfg, `
repository: { url: ./repo, password: { env: LB_PW } }
state_dir: ./state
concurrency: 1
sources:
  a-slow:
    type: command
    backup_command: 'sleep 100 & echo $! > grandchild.pid; wait'
    restore_command: 'cat > /dev/null'
    backup:
      hooks: { before: ["echo stop >> hooks.log"], after: ["echo start >> hooks.log"] }
  b-later:
    type: command
    backup_command: echo later
    restore_command: 'cat > /dev/null'
`);
    assert.equal((await lifeboat(['-c', cfg, 'init'], { env: { LB_PW }, cwd: tmp.path })).code, 0);
    const child = spawnLifeboat(['-c', cfg, 'backup', '--json'], { env: { LB_PW }, cwd: tmp.path });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
    const grandchild = await backgroundPid(path.join(tmp.path, 'grandchild.pid'));
    child.kill('SIGTERM');
    const [code] = (await once(child, 'close')) as [number];
    assert.equal(code, 130, stderr + stdout);
    assert.match(stderr, /backup interrupted: 0 source\(s\) backed up, 2 skipped, 0 failed/);
    const report = JSON.parse(stdout.trim().split('\n').at(-1) as string) as Report;
    assert.equal(report.interrupted, true);
    assert.equal(report.status, 'failed');
    assert.deepEqual(report.sources.map((s) => s.status), ['skipped', 'skipped']);
    assert.equal(await readFile(path.join(tmp.path, 'hooks.log'), 'utf8'), 'stop\nstart\n');
    assert.equal(await endsSoon(grandchild), true, 'the backup command\'s background job survived');
  });

  test('SIGTERM during a restore: exit 130, after-hooks run, the failure names the undo command, no process left', async () => {
    const dir = path.join(tmp.path, 'restore');
    await mkdir(dir);
    const cfg = path.join(dir, 'lifeboat.yml');
    await writeFile(path.join(dir, 'data.txt'), 'live data\n');
    await writeFile(cfg, `
repository: { url: ./repo, password: { env: LB_PW } }
state_dir: ./state
sources:
  data:
    type: command
    backup_command: cat data.txt
    restore_command: 'sleep 100 & echo $! > restore.pid; wait'
    restore:
      hooks: { before: ["echo stop >> hooks.log"], after: ["echo start >> hooks.log"] }
`);
    const cli = (args: string[]) => lifeboat(['-c', cfg, ...args], { env: { LB_PW }, cwd: dir });
    assert.equal((await cli(['init'])).code, 0);
    assert.equal((await cli(['backup'])).code, 0);
    const child = spawnLifeboat(['-c', cfg, 'restore', '--yes', '--json'], { env: { LB_PW }, cwd: dir });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
    const grandchild = await backgroundPid(path.join(dir, 'restore.pid'));
    child.kill('SIGTERM');
    const [code] = (await once(child, 'close')) as [number];
    assert.equal(code, 130, stderr + stdout);
    const report = JSON.parse(stdout.trim().split('\n').at(-1) as string) as Report;
    assert.equal(report.interrupted, true);
    assert.equal(report.sources[0]?.status, 'failed');
    assert.match(report.sources[0]?.error ?? '', /the live data may already be changed; to undo, run "lifeboat restore --only data --snapshot [0-9a-f]{8}"/);
    const error = (JSON.parse(stderr.trim().split('\n').at(-1) as string) as { error: { code: string; message: string; hint: string } }).error;
    assert.equal(error.code, 'cancelled');
    assert.equal(error.message, 'restore interrupted: 0 source(s) restored, 1 failed, 0 not started');
    assert.match(error.hint, /to put back the data they replaced, run "lifeboat restore --only data --snapshot [0-9a-f]{8}"/);
    assert.equal(await readFile(path.join(dir, 'hooks.log'), 'utf8'), 'stop\nstart\n');
    assert.equal(await endsSoon(grandchild), true, 'the restore command\'s background job survived');
  });
});
