/**
 * The container paths when things go wrong, end to end through the CLI against a real engine:
 * SIGTERM while a redis data_dir restore or a volume restore has the store's container stopped
 * (started again, exit 130, no temp file left), drills cancelled mid-restore (scratch server,
 * scratch dir and helper removed), a stopped container or compose service named with the
 * command that starts it, and lifeboat run as a user who cannot read the container's files or
 * reach the engine's socket (one line saying what to do).
 *
 * The store's main process writes a marker into a bind-mounted dir when the engine asks it
 * to stop and waits for the test's go-ahead, so SIGTERM reaches lifeboat while the stop is in
 * progress, at a known point and without timing.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import type { Server } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LIFEBOAT_BIN, lifeboat, spawnLifeboat } from '../support/lifeboat-cli.ts';
import type { CliResult } from '../support/lifeboat-cli.ts';
import { pollUntil } from '../support/ports.ts';
import { startDockerEngine } from '../support/docker-engine.ts';
import { TAR_END, tarHeader } from '../../src/util/tar-header.ts';
import type { DockerEngine } from '../support/docker-engine.ts';
import { tempDir } from '../support/tmp.ts';
import type { TempDir } from '../support/tmp.ts';
import { unprivilegedUser } from '../support/unprivileged-user.ts';

const LB_PW = 'container-faults-repo-pw-5521';
const IMAGE = 'lifeboat-test/stores:1';
const STORE_IMAGE_DIR = path.join(import.meta.dirname, '..', 'fixtures', 'store-image');

interface Report {
  status: string;
  sources: Array<{ source: string; status: string; error?: string; cause?: string; cleanup?: string }>;
}
const last = <T>(r: { stdout: string }): T => JSON.parse(r.stdout.trim().split('\n').at(-1) as string) as T;

/** A PID 1 that runs `main` and, asked to stop, marks /signal/NAME-stopping and waits for /signal/go before stopping it. */
const slowStop = (name: string, main: string): string[] => ['bash', '-c',
  `${main} & pid=$!; trap 'touch /signal/${name}-stopping; while [ ! -e /signal/go ]; do sleep 0.05; done; rm -f /signal/go /signal/${name}-stopping; kill -TERM $pid; wait $pid; exit 0' TERM; wait $pid`];

describe('container paths: faults, cancellation and the errors that name the next step', () => {
  let engine: DockerEngine | undefined;
  let tmp: TempDir;
  let signalDir: string;
  const redis = `lb-faults-redis-${process.pid}`;
  const app = `lb-faults-app-${process.pid}`;
  const volume = `lb-faults-vol-${process.pid}`;
  const svc = `lb-faults-svc-${process.pid}`;
  const project = `lbfaults${process.pid}`;

  const dockerOk = async (args: string[], input?: string, bytes?: Buffer): Promise<string> => {
    const r = await (engine as DockerEngine).docker(args, { input: bytes ?? input });
    assert.equal(r.code, 0, `docker ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };
  const started = (name: string) => dockerOk(['inspect', '--format', '{{.State.StartedAt}} {{.State.Running}}', name]);
  const helpers = () => dockerOk(['ps', '-aq', '--filter', 'label=org.lifeboat.helper']);
  const rcli = (args: string[], input?: string) => dockerOk(['exec', '-i', redis, 'redis-cli', ...args], input);
  const config = async (file: string, sources: string): Promise<string> => {
    const cfg = path.join(tmp.path, file);
    await writeFile(cfg, `
repository:
  url: ./repo-${file}
  password: { env: LB_PW }
state_dir: ./state-${file}
sources:
${sources}`);
    return cfg;
  };
  const env = () => ({ PATH: process.env.PATH, DOCKER_HOST: (engine as DockerEngine).dockerHost, LB_PW });
  const run = (cfg: string, args: string[]): Promise<CliResult> => lifeboat(['-c', cfg, ...args], { cwd: tmp.path, env: env() });
  /** Runs `args`, and SIGTERMs lifeboat once `marker` shows the container's stop in progress; then lets the stop finish. */
  const terminatedWhileStopping = async (cfg: string, args: string[], marker: string): Promise<{ code: number | null; out: string }> => {
    const child = spawnLifeboat(['-c', cfg, ...args], { cwd: tmp.path, env: env() });
    let out = '';
    child.stdout?.on('data', (b: Buffer) => { out += b.toString(); });
    child.stderr?.on('data', (b: Buffer) => { out += b.toString(); });
    const exited = once(child, 'exit');
    await pollUntil(async () => existsSync(path.join(signalDir, marker)), { timeoutMs: 60_000, what: `${marker} (the stop in progress)` });
    child.kill('SIGTERM');
    // The signal is handled on lifeboat's next turn of its event loop (it waits on the engine).
    await sleep(1500); // generous: a loaded machine may delay that turn
    await writeFile(path.join(signalDir, 'go'), '');
    const [code] = await exited;
    return { code: code as number | null, out };
  };

  before(async (t) => {
    engine = await startDockerEngine(t as never);
    if (!engine) return;
    await engine.ensureBaseImage();
    await engine.buildImage(STORE_IMAGE_DIR, IMAGE);
    tmp = await tempDir('container-faults');
    signalDir = path.join(tmp.path, 'signal');
    await mkdir(signalDir);
    await dockerOk(['run', '-d', '--network', 'none', '--name', redis, '-v', `${signalDir}:/signal`, IMAGE,
      ...slowStop('redis', 'mkdir -p /data && redis-server --dir /data --bind 127.0.0.1 --port 6379 --appendonly no')]);
    await dockerOk(['volume', 'create', volume]);
    await dockerOk(['run', '-d', '--network', 'none', '--name', app, '-v', `${volume}:/uploads`, '-v', `${signalDir}:/signal`, IMAGE, ...slowStop('app', 'sleep infinity')]);
    await dockerOk(['exec', app, 'sh', '-c', 'set -e; cd /uploads; mkdir -p a/b; seq 1 20000 > a/big.txt; echo photo > a/b/p.jpg']);
    await dockerOk(['run', '-d', '--network', 'none', '--name', svc, '--label', `com.docker.compose.project=${project}`, '--label', 'com.docker.compose.service=cache', IMAGE, 'sleep', 'infinity']);
    await pollUntil(async () => (await engine?.docker(['exec', redis, 'redis-cli', 'PING']))?.stdout.trim() === 'PONG', { timeoutMs: 60_000, what: 'redis in its container' });
  });
  after(async () => {
    if (!engine) return;
    await writeFile(path.join(signalDir, 'go'), '').catch(() => undefined);
    await engine.docker(['rm', '-f', redis, app, svc]);
    await engine.docker(['volume', 'rm', '-f', volume]);
    await engine.stop();
    await tmp?.cleanup();
  });

  test('SIGTERM during a redis data_dir restore: the container is started again, exit 130, no temp file left', async (t) => {
    if (!engine) return t.skip('no engine');
    const seed = Array.from({ length: 500 }, (_, i) => `SET k:${i} v${i}`).join('\n');
    await rcli([], `${seed}\nSAVE\n`);
    const cfg = await config('redis.yml', `  cache:\n    type: redis\n    container: ${redis}\n    url: redis://127.0.0.1:6379\n    restore_mode: data_dir\n    data_dir: /data\n`);
    assert.equal((await run(cfg, ['init'])).code, 0);
    const b = await run(cfg, ['backup']);
    assert.equal(b.code, 0, b.stderr + b.stdout);
    await rcli(['SET', 'only-after-backup', '1']);
    const before = await started(redis);
    const r = await terminatedWhileStopping(cfg, ['restore', '--yes', '--no-safety-snapshot'], 'redis-stopping');
    assert.equal(r.code, 130, r.out);
    const now = await started(redis);
    assert.match(now, / true$/, 'the container was left stopped');
    assert.notEqual(now, before, 'the container was never stopped: the test proves nothing');
    assert.equal(await dockerOk(['exec', redis, 'ls', '-A', '/data']), 'dump.rdb');
    await pollUntil(async () => (await engine?.docker(['exec', redis, 'redis-cli', 'PING']))?.stdout.trim() === 'PONG', { timeoutMs: 60_000, what: 'redis again' });
    // Either the backup (the swap was done before the stop was let finish) or the data of the moment: never a mix, never empty.
    assert.match(await rcli(['DBSIZE']), /^50[01]$/);
  });

  test('a drill cancelled while it restores into the scratch server removes the server and its dir', async (t) => {
    if (!engine) return t.skip('no engine');
    const cfg = path.join(tmp.path, 'redis.yml');
    const child = spawnLifeboat(['-c', cfg, 'drill', '--json'], { cwd: tmp.path, env: env() });
    let out = '';
    child.stdout?.on('data', (b: Buffer) => { out += b.toString(); });
    child.stderr?.on('data', (b: Buffer) => { out += b.toString(); });
    const exited = once(child, 'exit');
    const servers = async () => Number(await dockerOk(['exec', redis, 'sh', '-c', 'grep -lx redis-server /proc/[0-9]*/comm 2>/dev/null | wc -l']));
    await pollUntil(async () => (await servers()) === 2, { timeoutMs: 60_000, what: 'the scratch redis-server' });
    child.kill('SIGTERM');
    const [code] = await exited;
    assert.equal(code, 130, out);
    assert.equal(await servers(), 1, 'the scratch server outlived the drill');
    assert.equal(await dockerOk(['exec', redis, 'sh', '-c', 'ls -d /tmp/lifeboat-* 2>/dev/null; grep -lx cat /proc/[0-9]*/comm 2>/dev/null | wc -l']), '0', out);
  });

  test('SIGTERM during a volume restore: its user is started again, exit 130, no helper left', async (t) => {
    if (!engine) return t.skip('no engine');
    const cfg = await config('vol.yml', `  uploads:\n    type: volume\n    volume: ${volume}\n`);
    assert.equal((await run(cfg, ['init'])).code, 0);
    const b = await run(cfg, ['backup']);
    assert.equal(b.code, 0, b.stderr + b.stdout);
    await dockerOk(['exec', app, 'sh', '-c', 'rm -rf /uploads/a/b && echo junk > /uploads/junk.txt']);
    const before = await started(app);
    const r = await terminatedWhileStopping(cfg, ['restore', '--yes', '--no-safety-snapshot'], 'app-stopping');
    assert.equal(r.code, 130, r.out);
    const now = await started(app);
    assert.match(now, / true$/, 'the user of the volume was left stopped');
    assert.notEqual(now, before, 'the user was never stopped: the test proves nothing');
    assert.equal(await helpers(), '');
    // No staging name of the files restore left in the volume.
    const names = (await dockerOk(['exec', app, 'sh', '-c', 'cd /uploads && find . -mindepth 1 | sort'])).split('\n');
    assert.deepEqual(names.filter((n) => /lifeboat/.test(n)), [], names.join(' '));
  });

  test('a drill of a volume cancelled mid-restore removes its helper', async (t) => {
    if (!engine) return t.skip('no engine');
    const cfg = path.join(tmp.path, 'vol.yml');
    const child = spawnLifeboat(['-c', cfg, 'drill', '--json'], { cwd: tmp.path, env: env() });
    const exited = once(child, 'exit');
    await pollUntil(async () => (await helpers()) !== '', { timeoutMs: 60_000, what: 'the drill\'s helper' });
    child.kill('SIGTERM');
    const [code] = await exited;
    assert.equal(code, 130);
    assert.equal(await helpers(), '');
    assert.match(await started(app), / true$/);
  });

  test('a drill that fails on damaged data leaves no scratch server, dir or helper', async (t) => {
    if (!engine) return t.skip('no engine');
    for (const [file, source, cleanup] of [['redis.yml', 'cache', 'none'], ['vol.yml', 'uploads', 'done']] as const) {
      const dataDir = path.join(tmp.path, `repo-${file}`, 'data');
      let biggest = { p: '', size: 0 };
      for (const d of await readdir(dataDir)) {
        for (const f of await readdir(path.join(dataDir, d))) {
          const size = (await stat(path.join(dataDir, d, f))).size;
          if (size > biggest.size) biggest = { p: path.join(dataDir, d, f), size };
        }
      }
      const saved = await readFile(biggest.p);
      const bytes = Buffer.from(saved);
      bytes[Math.floor(bytes.length / 2)] ^= 0xff;
      await chmod(biggest.p, 0o644);
      await writeFile(biggest.p, bytes);
      try {
        const d = await run(path.join(tmp.path, file), ['drill', '--json']);
        assert.notEqual(d.code, 0, d.stdout);
        const s = last<Report>(d).sources[0];
        assert.deepEqual([s?.source, s?.status], [source, 'fail'], JSON.stringify(s));
        assert.match(s?.cause ?? '', /damaged/);
        // redis reads the RDB before it makes its scratch server (none made, none to remove);
        // the volume's helper and scratch dir exist when the damaged blob is met.
        assert.equal(s?.cleanup, cleanup, JSON.stringify(s));
      } finally {
        await writeFile(biggest.p, saved);
      }
    }
    assert.equal(await dockerOk(['exec', redis, 'sh', '-c', 'grep -lx redis-server /proc/[0-9]*/comm 2>/dev/null | wc -l; ls -d /tmp/lifeboat-* 2>/dev/null | wc -l; grep -lx cat /proc/[0-9]*/comm 2>/dev/null | wc -l']), '1\n0\n0');
    assert.equal(await helpers(), '');
  });

  test('a stopped container or compose service: one line naming it and the command that starts it', async (t) => {
    if (!engine) return t.skip('no engine');
    const cfg = await config('stopped.yml', [
      `  files:\n    type: files\n    container: ${app}\n    paths: [/uploads]\n`,
      `  cached:\n    type: files\n    compose: { project: ${project}, service: cache }\n    paths: [/etc/hostname]\n`,
      `  rcache:\n    type: redis\n    compose: { project: ${project}, service: cache }\n    url: redis://127.0.0.1:6379\n`,
    ].join(''));
    assert.equal((await run(cfg, ['init'])).code, 0);
    await dockerOk(['stop', '-t', '1', svc]);
    try {
      for (const only of ['cached', 'rcache']) {
        const b = await run(cfg, ['backup', '--only', only, '--json']);
        assert.notEqual(b.code, 0);
        const err = last<Report>(b).sources[0]?.error ?? '';
        assert.match(err, new RegExp(`compose service cache of project ${project} has no running container`), only);
        assert.match(err, new RegExp(`docker compose -p ${project} up -d cache`), only);
        assert.doesNotMatch(err, /\n/);
      }
    } finally {
      await dockerOk(['start', svc]);
    }
    await writeFile(path.join(signalDir, 'go'), '');
    await dockerOk(['stop', '-t', '30', app]);
    try {
      const b = await run(cfg, ['backup', '--only', 'files', '--json']);
      assert.notEqual(b.code, 0);
      const err = last<Report>(b).sources[0]?.error ?? '';
      assert.match(err, new RegExp(`container ${app} is not running`));
      assert.match(err, new RegExp(`docker start ${app}`));
    } finally {
      await dockerOk(['start', app]);
    }
  });

  test('a helper image without a shell: one line naming the image and what it needs; no helper left', async (t) => {
    if (!engine) return t.skip('no engine');
    // An image with no shell at all (one empty file): a helper made from it cannot run.
    await dockerOk(['import', '-', 'local/no-shell:1'], undefined, Buffer.concat([tarHeader({ name: 'empty', type: '0', mode: 0o644, uid: 0, gid: 0 }), TAR_END]));
    const cfg = await config('noshell.yml', `  uploads:\n    type: volume\n    volume: ${volume}\n    helper_image: local/no-shell:1\n`);
    assert.equal((await run(cfg, ['init'])).code, 0);
    const v = await run(cfg, ['backup', '--json']);
    assert.notEqual(v.code, 0);
    const err = last<Report>(v).sources[0]?.error ?? '';
    assert.match(err, /helper container .* could not start from image local\/no-shell:1/, err);
    assert.match(err, /needs sh and sleep/, err);
    assert.doesNotMatch(err, /\n/);
    assert.equal(await helpers(), '');
  });

  test('not root: files in a container need root, and a socket it cannot open is named with the fix', async (t) => {
    if (!engine) return t.skip('no engine');
    const user = unprivilegedUser();
    if (user === undefined) return t.skip('the tests do not run as root');
    // The engine's socket is in a root-only dir: a relay in a world-open dir lets the
    // unprivileged user reach the engine, as a member of the docker group would.
    const home = path.join(tmp.path, 'nobody');
    await mkdir(home);
    await chown(home, user.uid, user.gid);
    await chmod(tmp.path, 0o755);
    const relay = path.join(home, 'docker.sock');
    const engineSock = (engine.dockerHost).slice('unix://'.length);
    const server: Server = createServer((c) => {
      const u = createConnection(engineSock);
      c.pipe(u).pipe(c);
      c.on('error', () => u.destroy());
      u.on('error', () => c.destroy());
    });
    await new Promise<void>((resolve) => server.listen(relay, resolve));
    await chmod(relay, 0o777);
    try {
      const cfg = path.join(home, 'lifeboat.yml');
      await writeFile(cfg, `repository:\n  url: ./repo\n  password: { env: LB_PW }\nstate_dir: ./state\nsources:\n  files:\n    type: files\n    container: ${app}\n    paths: [/uploads]\n`);
      await chown(cfg, user.uid, user.gid);
      const asUser = (dockerHost: string, args: string[]) => new Promise<{ code: number | null; out: string }>((resolve) => {
        const child = spawn(process.execPath, [LIFEBOAT_BIN, '-c', cfg, ...args], {
          cwd: home, uid: user.uid, gid: user.gid, stdio: ['ignore', 'pipe', 'pipe'],
          env: { PATH: process.env.PATH, HOME: home, DOCKER_HOST: dockerHost, LB_PW },
        });
        let out = '';
        child.stdout?.on('data', (b: Buffer) => { out += b.toString(); });
        child.stderr?.on('data', (b: Buffer) => { out += b.toString(); });
        child.on('close', (code) => resolve({ code, out }));
      });
      assert.equal((await asUser(`unix://${relay}`, ['init'])).code, 0);
      const b = await asUser(`unix://${relay}`, ['backup', '--json']);
      assert.notEqual(b.code, 0);
      const err = last<Report>({ stdout: b.out.split('\n').filter((l) => l.startsWith('{"kind"')).join('\n') }).sources[0]?.error ?? '';
      assert.match(err, new RegExp(`the files of container ${app} are read through its /proc/PID/root, which this process cannot read: run it as root`));
      assert.doesNotMatch(err, /\n/);

      const denied = await asUser(engine.dockerHost, ['backup', '--json']);
      assert.notEqual(denied.code, 0);
      assert.match(denied.out, new RegExp(`cannot reach the container engine at ${engineSock.replace(/[.]/g, '\\.')} \\(EACCES\\)`));
      assert.match(denied.out, /start it as a user in the docker group, or as root/);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
