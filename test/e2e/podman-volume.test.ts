/**
 * The engine calls of the newer container paths against Podman's Docker-compatible API, end
 * to end through the CLI: a named volume (the volume filter of the container list, a helper
 * container created with a volume mount, files read through its /proc/PID/root) backed up,
 * wiped, restored while its user is stopped and drilled; and a redis restore_mode data_dir
 * (the container stopped, dump.rdb made a hard link by an archive PUT, the container started).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import path from 'node:path';
import { lifeboat, spawnLifeboat, lastJson as last } from '../support/lifeboat-cli.ts';
import type { StackReport as Report } from '../support/lifeboat-cli.ts';
import { pollUntil } from '../support/ports.ts';
import { startPodman } from '../support/podman.ts';
import type { PodmanEngine } from '../support/podman.ts';
import { tempDir } from '../support/tmp.ts';
import type { TempDir } from '../support/tmp.ts';

const LB_PW = 'podman-volume-repo-pw-4417';
const IMAGE = 'lifeboat-test/stores:1';
const STORE_IMAGE_DIR = path.join(import.meta.dirname, '..', 'fixtures', 'store-image');


describe('a named volume and a redis data_dir restore through Podman', () => {
  let pm: PodmanEngine | undefined;
  let tmp: TempDir;
  let signalDir: string;
  const app = `lb-pmv-app-${process.pid}`;
  const redis = `lb-pmv-redis-${process.pid}`;
  const volume = `lb-pmv-uploads-${process.pid}`;

  const ok = async (args: string[], input?: string): Promise<string> => {
    const r = await (pm as PodmanEngine).podman(args, { input });
    assert.equal(r.code, 0, `podman ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };
  const started = (name: string) => ok(['inspect', '--format', '{{.State.StartedAt}} {{.State.Running}}', name]);
  const helpers = () => ok(['ps', '-aq', '--filter', 'label=org.lifeboat.helper']);
  const listing = () => ok(['exec', app, 'sh', '-c', 'cd /uploads && find . -mindepth 1 | sort | while read -r f; do '
    + 'printf "%s %s\\n" "$(stat -c "%n %F %u:%g %a %Y" "$f")" "$( [ -f "$f" ] && sha256sum < "$f" | cut -c1-16 )"; done']);
  const config = async (file: string, sources: string): Promise<string> => {
    const cfg = path.join(tmp.path, file);
    await writeFile(cfg, `repository:\n  url: ./repo-${file}\n  password: { env: LB_PW }\nstate_dir: ./state-${file}\nsources:\n${sources}`);
    return cfg;
  };
  const run = (cfg: string, args: string[]) => lifeboat(['-c', cfg, ...args], { cwd: tmp.path, env: { PATH: process.env.PATH, DOCKER_HOST: (pm as PodmanEngine).dockerHost, LB_PW } });

  before(async (t) => {
    pm = await startPodman(t as never);
    if (!pm) return;
    await pm.ensureBaseImage();
    await pm.buildImage(STORE_IMAGE_DIR, IMAGE);
    tmp = await tempDir('podman-volume');
    await ok(['volume', 'create', volume]);
    signalDir = path.join(tmp.path, 'signal');
    await mkdir(signalDir);
    // Asked to stop, it marks /signal/stopping and waits for /signal/go: a SIGTERM to lifeboat lands mid-stop.
    await ok(['run', '-d', '--network', 'none', '--name', app, '-v', `${volume}:/uploads`, '-v', `${signalDir}:/signal`, IMAGE, 'bash', '-c',
      'sleep infinity & pid=$!; trap \'touch /signal/stopping; while [ ! -e /signal/go ]; do sleep 0.05; done; rm -f /signal/go /signal/stopping; kill $pid; exit 0\' TERM; wait $pid']);
    await ok(['exec', app, 'sh', '-c', 'set -e; cd /uploads; mkdir -p a/b; seq 1 30000 > a/big.txt; echo photo > a/b/p.jpg; chown -R 1000:1000 a; chmod 600 a/b/p.jpg; touch -d "2022-01-02 03:04:05" a/big.txt']);
    await ok(['run', '-d', '--network', 'none', '--name', redis, IMAGE, 'bash', '-c',
      'mkdir -p /data && chown redis:redis /data && exec setpriv --reuid=redis --regid=redis --init-groups redis-server --dir /data --bind 127.0.0.1 --port 6379 --appendonly no']);
    await pollUntil(async () => (await pm?.podman(['exec', redis, 'redis-cli', 'PING']))?.stdout.trim() === 'PONG', { timeoutMs: 60_000, what: 'redis in its Podman container' });
  });
  after(async () => {
    if (signalDir !== undefined) await writeFile(path.join(signalDir, 'go'), '').catch(() => undefined);
    await pm?.podman(['rm', '-f', app, redis]);
    await pm?.podman(['volume', 'rm', '-f', volume]);
    await pm?.stop();
    await tmp?.cleanup();
  });

  test('volume: backup, wipe, restore with its user stopped and started again, drill; no helper left', async (t) => {
    if (!pm) return t.skip('no podman');
    const want = await listing();
    const cfg = await config('vol.yml', `  uploads:\n    type: volume\n    volume: ${volume}\n`);
    assert.equal((await run(cfg, ['init'])).code, 0);
    const b = await run(cfg, ['backup', '--json']);
    assert.equal(b.code, 0, b.stderr + b.stdout);
    assert.equal(await helpers(), '');
    assert.match((await run(cfg, ['ls', 'latest'])).stdout, new RegExp(`^/volumes/${volume}/a/b/p\\.jpg$`, 'm'));

    await ok(['exec', app, 'sh', '-c', 'rm -rf /uploads/a && echo junk > /uploads/junk.txt']);
    const before = await started(app);
    await writeFile(path.join(signalDir, 'go'), '');
    const r = await run(cfg, ['restore', '--yes', '--no-safety-snapshot', '--json']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.deepEqual(last<Report>(r).sources[0]?.fingerprint_diff, []);
    const now = await started(app);
    assert.match(now, / true$/);
    assert.notEqual(now, before, 'the user of the volume was not stopped and started again');
    assert.equal(await listing(), want);
    assert.equal(await helpers(), '');

    const d = await run(cfg, ['drill', '--json']);
    assert.equal(d.code, 0, d.stderr + d.stdout);
    assert.deepEqual(last<Report>(d).sources.map((s) => [s.source, s.status, s.cleanup]), [['uploads', 'pass', 'done']]);
    assert.equal(await helpers(), '');
  });

  test('SIGTERM during a volume restore: its user is started again, exit 130, no helper left', async (t) => {
    if (!pm) return t.skip('no podman');
    const cfg = path.join(tmp.path, 'vol.yml');
    await ok(['exec', app, 'sh', '-c', 'rm -rf /uploads/a/b']);
    const before = await started(app);
    const child = spawnLifeboat(['-c', cfg, 'restore', '--yes', '--no-safety-snapshot'], { cwd: tmp.path, env: { PATH: process.env.PATH, DOCKER_HOST: (pm as PodmanEngine).dockerHost, LB_PW } });
    let out = '';
    child.stderr?.on('data', (b: Buffer) => { out += b.toString(); });
    const exited = once(child, 'exit');
    await pollUntil(async () => existsSync(path.join(signalDir, 'stopping')), { timeoutMs: 60_000, what: 'the user\'s stop in progress' });
    child.kill('SIGTERM');
    await sleep(1500); // handled on lifeboat's next turn of its event loop (generous for a loaded machine)
    await writeFile(path.join(signalDir, 'go'), '');
    const [code] = await exited;
    assert.equal(code, 130, out);
    const now = await started(app);
    assert.match(now, / true$/, 'the user of the volume was left stopped');
    assert.notEqual(now, before);
    assert.equal(await helpers(), '');
  });

  test('redis restore_mode data_dir: stopped, dump.rdb replaced by a hard link (owner kept), started', async (t) => {
    if (!pm) return t.skip('no podman');
    const seed = Array.from({ length: 700 }, (_, i) => `SET k:${i} v${i}`).join('\n');
    await ok(['exec', '-i', redis, 'redis-cli'], `${seed}\nSAVE\n`);
    const cfg = await config('redis.yml', `  cache:\n    type: redis\n    container: ${redis}\n    url: redis://127.0.0.1:6379\n    restore_mode: data_dir\n    data_dir: /data\n`);
    assert.equal((await run(cfg, ['init'])).code, 0);
    const b = await run(cfg, ['backup']);
    assert.equal(b.code, 0, b.stderr + b.stdout);
    await ok(['exec', redis, 'redis-cli', 'FLUSHALL', 'SYNC']);
    await ok(['exec', redis, 'redis-cli', 'SET', 'only-after-backup', '1']);
    const before = await started(redis);
    const r = await run(cfg, ['restore', '--yes', '--no-safety-snapshot', '--json']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.deepEqual(last<Report>(r).sources[0]?.fingerprint_diff, []);
    const now = await started(redis);
    assert.match(now, / true$/);
    assert.notEqual(now, before, 'the container was not restarted');
    assert.equal(await ok(['exec', redis, 'redis-cli', 'DBSIZE']), '700');
    assert.equal(await ok(['exec', redis, 'redis-cli', 'EXISTS', 'only-after-backup']), '0');
    assert.equal(await ok(['exec', redis, 'sh', '-c', 'stat -c %U /data/dump.rdb; ls -A /data']), 'redis\ndump.rdb');
  });
});
