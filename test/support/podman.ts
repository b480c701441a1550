/**
 * Podman for tests: Debian's podman 4.3 serving its Docker-compatible API on a unix socket
 * (`podman system service`), so lifeboat's container transport runs against it unchanged
 * (DOCKER_HOST=unix://…/podman.sock).
 *
 * It runs with a private containers.conf (runc, cgroupfs, a file events log and ulimits at or
 * below this machine's hard limits: the defaults fail here, TEST-SERVERS.md "Podman") and its
 * own storage: images under ~/.cache/lifeboat-test/podman-<version>/ so the base and store
 * images survive between runs (cached by recipe hash, as with the Docker engine), run state in
 * a short fixed dir under /tmp (libpod records both paths and refuses a store opened with
 * others). One test process owns that storage at a time (a lock file, as for dockerd). The
 * host's networking is never touched: containers use `--network host` or `none`, and CNI's
 * config dir is private too.
 *
 * Usage:
 *   const pm = await startPodman(t);            // undefined: skipped (throws under REQUIRE_SERVERS=1)
 *   await pm.ensureBaseImage();                 // local/debian:bookworm from the same mmdebstrap recipe
 *   await pm.buildImage(dir, 'lifeboat-test/stores:1');
 *   await pm.podman(['run', '-d', '--network', 'host', …]);
 *   await pm.stop();                            // removes its containers, stops the service
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import path from 'node:path';
import { BASE_IMAGE, cacheRoot, ensureBaseImageWith, hashTree, takeLock, which } from './docker-engine.ts';
import { register, unregister } from './cleanup.ts';
import { ManagedProcess } from './managed-process.ts';
import { pollUntil } from './ports.ts';
import { requireServers } from './require.ts';
import type { Skippable } from './require.ts';
import { runCommand } from './run-command.ts';
import type { RunResult } from './run-command.ts';

const RECIPE_LABEL = 'lifeboat.recipe-hash';

export interface PodmanEngine {
  readonly podmanPath: string;
  /** `unix://…/podman.sock`: pass as DOCKER_HOST to lifeboat. */
  readonly dockerHost: string;
  /** Environment for podman CLI children (its private configs). */
  readonly env: NodeJS.ProcessEnv;
  /** Runs the podman CLI to completion (never throws on a non-zero exit). */
  podman(args: readonly string[], opts?: { input?: string | Buffer; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<RunResult>;
  /** Imports local/debian:bookworm (mmdebstrap) unless an image of the same recipe is there. */
  ensureBaseImage(): Promise<void>;
  /** Builds `tag` from `contextDir` unless built from the same files already. True when it built. */
  buildImage(contextDir: string, tag: string): Promise<boolean>;
  /** Removes every container, stops the service and releases the lock. */
  stop(): Promise<void>;
}

/** Installs podman and mmdebstrap with apt when missing and root; the reason when impossible. */
function ensureInstalled(): string | undefined {
  if (which('podman') !== undefined && which('runc') !== undefined && which('mmdebstrap') !== undefined) return undefined;
  if (process.getuid?.() !== 0) return 'podman, runc or mmdebstrap missing and not root; apt-get install -y podman runc mmdebstrap';
  const apt = (args: string[]) =>
    spawnSync('apt-get', ['-o', 'DPkg::Lock::Timeout=300', ...args], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }).status === 0;
  const install = ['install', '-y', '--no-install-recommends', 'podman', 'runc', 'mmdebstrap'];
  if (!apt(install) && !(apt(['update']) && apt(install))) return 'apt-get install podman runc mmdebstrap failed';
  return undefined;
}

/** True when the API answers GET /_ping on the socket. */
function ping(sock: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath: sock, path: '/_ping', timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

export async function startPodman(t: Skippable): Promise<PodmanEngine | undefined> {
  if (process.getuid?.() !== 0) {
    const why = 'podman tests run as root (rootful storage and cgroupfs)';
    if (requireServers) throw new Error(`REQUIRE_SERVERS=1 but ${why}`);
    t.skip(why);
    return undefined;
  }
  const missing = ensureInstalled();
  if (missing !== undefined) {
    if (requireServers) throw new Error(`REQUIRE_SERVERS=1 but ${missing}`);
    t.skip(missing);
    return undefined;
  }
  const podmanPath = which('podman') as string;
  const version = /version ([\w.+~-]+)/.exec(spawnSync(podmanPath, ['--version'], { encoding: 'utf8' }).stdout)?.[1] ?? 'unknown';
  const slug = version.replace(/[^\w.-]/g, '_');
  const dir = path.join(cacheRoot(), `podman-${slug}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const lock = path.join(dir, 'podman.lock');
  await takeLock(lock, 15 * 60_000);
  // Fixed (libpod checks it against its database) and short (conmon's socket paths).
  const run = `/tmp/lb-podman-${slug}`;
  mkdirSync(run, { recursive: true, mode: 0o700 });
  writeFileSync(path.join(dir, 'containers.conf'), [
    '[containers]', 'default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]',
    '[network]', `network_config_dir = "${path.join(dir, 'cni')}"`,
    '[engine]', 'runtime = "runc"', 'cgroup_manager = "cgroupfs"', 'events_logger = "file"',
    `events_logfile_path = "${path.join(run, 'events.log')}"`, `tmp_dir = "${path.join(run, 'libpod')}"`, '',
  ].join('\n'));
  writeFileSync(path.join(dir, 'storage.conf'), [
    '[storage]', 'driver = "overlay"', `graphroot = "${path.join(dir, 'graph')}"`, `runroot = "${path.join(run, 'storage')}"`, '',
  ].join('\n'));
  const env = { ...process.env, CONTAINERS_CONF: path.join(dir, 'containers.conf'), CONTAINERS_STORAGE_CONF: path.join(dir, 'storage.conf') };
  const podman = (args: readonly string[], opts: { input?: string | Buffer; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}) =>
    runCommand(podmanPath, args, { env: { ...env, ...opts.env }, input: opts.input, timeoutMs: opts.timeoutMs ?? 15 * 60_000 });
  const removeAllSync = (): void => {
    spawnSync(podmanPath, ['rm', '--all', '--force', '--time', '1'], { env, stdio: 'ignore', timeout: 60_000 });
  };
  /**
   * Each exec session leaves a conmon waiting up to five minutes (`--exit-delay 300`) for a
   * client to ask for its exit code, even once its container is gone: ours (their command
   * line names this storage) end with the service.
   */
  const killExecMonitorsSync = (): void => {
    const marker = `${path.join(dir, 'graph')}/`;
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      let cmdline: string;
      try {
        cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      } catch {
        continue; // exited meanwhile
      }
      if (cmdline.startsWith('/usr/bin/conmon\0') && cmdline.includes(marker)) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // gone already
        }
      }
    }
  };
  const sock = path.join(run, 'podman.sock');
  rmSync(sock, { force: true });
  const service = new ManagedProcess(podmanPath, ['system', 'service', '--time=0', `unix://${sock}`], { env, logFile: path.join(dir, 'service.log') });
  // Containers live on under conmon when the service dies: the exit hook removes them too.
  const entry = register({ label: `podman service ${dir}`, pgid: service.pid, afterDeathSync: () => {
    removeAllSync();
    killExecMonitorsSync();
    rmSync(lock, { force: true });
  } });
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await podman(['rm', '--all', '--force', '--time', '1'], { timeoutMs: 60_000 });
    await service.stop('SIGTERM', 10_000);
    killExecMonitorsSync();
    unregister(entry);
    rmSync(lock, { force: true });
  };
  try {
    await pollUntil(async () => ping(sock), { timeoutMs: 60_000, what: 'podman system service', abort: () => (service.exitInfo !== undefined ? `${service.describeExit()}:\n${service.logTail()}` : undefined) });
  } catch (err) {
    await stop();
    throw err;
  }
  // A previous run killed mid-test may have left containers.
  removeAllSync();

  async function labelOf(image: string): Promise<string | undefined> {
    const r = await podman(['image', 'inspect', '--format', `{{ index .Labels "${RECIPE_LABEL}" }}`, image], { timeoutMs: 30_000 });
    return r.code === 0 ? r.stdout.trim() : undefined;
  }

  return {
    podmanPath,
    dockerHost: `unix://${sock}`,
    env,
    podman,
    ensureBaseImage: () => ensureBaseImageWith(dir, labelOf, async (tar, hash) => {
      const imp = await podman(['import', '--change', 'CMD ["/bin/bash"]', '--change', `LABEL ${RECIPE_LABEL}=${hash}`, tar, BASE_IMAGE]);
      if (imp.code !== 0) throw new Error(`podman import failed: ${imp.stderr}`);
    }),
    async buildImage(contextDir, tag) {
      const base = (await podman(['image', 'inspect', '--format', '{{.Id}}', BASE_IMAGE], { timeoutMs: 30_000 })).stdout.trim();
      const hash = hashTree(contextDir, JSON.stringify(['Dockerfile', [], base]));
      if ((await labelOf(tag)) === hash) return false;
      const r = await podman(['build', '--network', 'host', '--label', `${RECIPE_LABEL}=${hash}`, '-t', tag, contextDir]);
      if (r.code !== 0) throw new Error(`podman build of ${tag} failed:\n${(r.stdout + r.stderr).slice(-4000)}`);
      return true;
    },
    stop,
  };
}
