/**
 * A Docker engine for tests, on machines without a container registry (TEST-SERVERS.md).
 *
 * Debian's dockerd runs with its data-root in a cache dir outside the clone
 * (~/.cache/lifeboat-test/docker-<dockerd version>), so images built once (the base image,
 * lifeboat's image) survive between runs and fresh clones. It never touches the host's
 * network setup: no bridge, no iptables, no ip_forward or masquerading; containers use
 * `--network host` (unique loopback ports) or `--network none`.
 *
 * One engine owns a data-root at a time, so test processes take turns: `startDockerEngine`
 * takes an exclusive lock file in the cache dir (a holder whose pid is gone is replaced) and
 * `stop` releases it. A test process that dies leaves the lock to the next one and its
 * dockerd to the cleanup registry.
 *
 * Usage:
 *   const engine = await startDockerEngine(t);          // undefined: skipped (or throws under REQUIRE_SERVERS=1)
 *   await engine.ensureBaseImage();                      // local/debian:bookworm, cached by recipe hash
 *   await engine.buildImage(dir, 'lifeboat:test', { dockerfile: 'Dockerfile' });
 *   await engine.docker(['run', '--rm', '--network', 'none', 'lifeboat:test', '--version']);
 *   await engine.stop();
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { homedir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { register, unregister, killGroup } from './cleanup.ts';
import { requireServers } from './require.ts';
import type { Skippable } from './require.ts';
import { runCommand } from './run-command.ts';
import type { RunResult } from './run-command.ts';

/** The base image every test image builds on (`FROM local/debian:bookworm`). */
export const BASE_IMAGE = 'local/debian:bookworm';
/**
 * How the base image is made (then the host's Debian mirror); its hash tags the image, so
 * changing it rebuilds.
 */
const BASE_RECIPE = ['mmdebstrap', '--variant=apt', '--dpkgopt=force-unsafe-io', '--include=ca-certificates', 'bookworm', '{out}'] as const;
const RECIPE_LABEL = 'lifeboat.recipe-hash';

export interface DockerRunOptions {
  input?: string | Buffer;
  timeoutMs?: number;
  /** Added to the CLI's environment (a secret for `-e NAME`, kept out of argv). */
  env?: NodeJS.ProcessEnv;
}

export interface DockerEngine {
  /** The docker CLI matching the engine (Debian's, API 1.41). */
  readonly dockerPath: string;
  /** `unix://…/docker.sock`: pass as DOCKER_HOST to any client. */
  readonly dockerHost: string;
  /** Environment for docker CLI children: this process's plus DOCKER_HOST. */
  readonly env: NodeJS.ProcessEnv;
  /** Runs the docker CLI to completion (never throws on a non-zero exit). */
  docker(args: readonly string[], opts?: DockerRunOptions): Promise<RunResult>;
  /** Builds local/debian:bookworm with mmdebstrap unless an image of the same recipe is there. */
  ensureBaseImage(): Promise<void>;
  /**
   * Builds `tag` from `contextDir` unless an image of that tag was built from the same files
   * and build args (hash of every file's path and bytes, in a label). True when it built.
   */
  buildImage(contextDir: string, tag: string, opts?: { dockerfile?: string; buildArgs?: Record<string, string> }): Promise<boolean>;
  /** Stops dockerd (its containers with it) and releases the engine lock. */
  stop(): Promise<void>;
}

export function cacheRoot(): string {
  return path.join(process.env.XDG_CACHE_HOME ?? path.join(homedir(), '.cache'), 'lifeboat-test');
}

export function which(name: string): string | undefined {
  for (const dir of ['/usr/sbin', '/usr/bin', '/sbin', '/bin', ...(process.env.PATH ?? '').split(':')]) {
    const p = path.join(dir, name);
    if (existsSync(p)) return p;
  }
  return undefined;
}

/** Installs docker.io and mmdebstrap with apt when missing and root; the reason when impossible. */
function ensureInstalled(): string | undefined {
  if (which('dockerd') !== undefined && which('mmdebstrap') !== undefined) return undefined;
  if (process.getuid?.() !== 0) return 'dockerd or mmdebstrap missing and not root; apt-get install -y docker.io mmdebstrap';
  const apt = (args: string[]) =>
    spawnSync('apt-get', ['-o', 'DPkg::Lock::Timeout=300', ...args], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }).status === 0;
  const install = ['install', '-y', '--no-install-recommends', 'docker.io', 'mmdebstrap'];
  // The package lists of a fresh machine may be missing or stale: update once and retry.
  if (!apt(install) && !(apt(['update']) && apt(install))) return 'apt-get install docker.io mmdebstrap failed';
  return undefined;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes `file` exclusively for this process, waiting for a live holder up to `waitMs`. */
export async function takeLock(file: string, waitMs: number): Promise<void> {
  for (const end = Date.now() + waitMs; ; ) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = Number(readFileSync(file, 'utf8').trim());
    if (!Number.isInteger(holder) || holder <= 0 || !isAlive(holder)) {
      rmSync(file, { force: true }); // the holder died: its engine is gone with it
      continue;
    }
    if (Date.now() > end) throw new Error(`docker engine lock ${file} held by pid ${holder} for too long`);
    await sleep(500);
  }
}

/**
 * The Debian mirror the host's apt uses (its bookworm source), for images and packages built
 * the way the host gets its own.
 */
export function debianMirror(): string {
  const files = ['/etc/apt/sources.list.d/debian.sources', '/etc/apt/sources.list'].filter((f) => existsSync(f));
  for (const f of files) {
    const text = readFileSync(f, 'utf8');
    // deb822 stanzas (URIs: …) or one-line entries (deb URI suite components)
    for (const stanza of text.split(/\n\s*\n/)) {
      const uri = /^URIs:\s*(\S+)/m.exec(stanza)?.[1];
      if (uri !== undefined && /^Suites:.*\bbookworm\b/m.test(stanza) && !uri.includes('security')) return uri;
    }
    const line = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm\s/m.exec(text)?.[1];
    if (line !== undefined) return line;
  }
  throw new Error('no Debian bookworm source in /etc/apt/sources.list(.d); the base image needs a Debian mirror');
}

/**
 * Releases what an engine leaves once dockerd is gone: the network namespace it bind-mounts
 * under its exec-root (left mounted even by a clean stop) and, when it was killed rather
 * than stopped, its containerd shims (each in a session of its own, outliving containerd by
 * design; found by their socket address).
 */
function releaseEngineLeftoversSync(execRoot: string): void {
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    if (cmdline.startsWith('/usr/bin/containerd-shim') && cmdline.includes(`${execRoot}/`)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // gone already
      }
    }
  }
  spawnSync('umount', ['-l', path.join(execRoot, 'netns', 'default')], { stdio: 'ignore' });
}

/** The base image's recipe hash (its label: a changed recipe rebuilds). */
export function baseRecipeHash(): string {
  return createHash('sha256').update(BASE_RECIPE.join(' ')).digest('hex').slice(0, 16);
}

/** Writes the base image's Debian rootfs tarball (mmdebstrap, the host's mirror) to `tar`; Podman imports it too. */
export function makeBaseTarball(tar: string): void {
  // stdin must not be a pipe: mmdebstrap then reads extra mirror lines from it.
  const args = [...BASE_RECIPE.slice(1).map((a) => (a === '{out}' ? tar : a)), debianMirror()];
  const r = spawnSync(which('mmdebstrap') as string, args, {
    stdio: ['ignore', 'ignore', 'pipe'],
    encoding: 'utf8',
    timeout: 10 * 60_000,
  });
  if (r.status !== 0) throw new Error(`mmdebstrap failed: ${(r.stderr ?? '').slice(-2000)}`);
}

/**
 * Imports the Debian base image unless one of the current recipe is there, for Docker and
 * Podman alike: `labelOf` reads an image's recipe label, `importTar` imports a rootfs tarball
 * labelled with the hash (the two CLIs spell the flags differently). The tarball is written
 * in `dir` and removed afterwards.
 */
export async function ensureBaseImageWith(
  dir: string,
  labelOf: (image: string) => Promise<string | undefined>,
  importTar: (tar: string, hash: string) => Promise<void>,
): Promise<void> {
  const hash = baseRecipeHash();
  if ((await labelOf(BASE_IMAGE)) === hash) return;
  const tar = path.join(dir, `base-${process.pid}.tar`);
  try {
    makeBaseTarball(tar);
    await importTar(tar, hash);
  } finally {
    rmSync(tar, { force: true });
  }
}

/** Hash of every regular file under `dir` (relative path and bytes), plus `extra`. */
export function hashTree(dir: string, extra = ''): string {
  const h = createHash('sha256').update(extra);
  const walk = (rel: string): void => {
    for (const name of readdirSync(path.join(dir, rel)).sort()) {
      const r = path.join(rel, name);
      const st = statSync(path.join(dir, r));
      if (st.isDirectory()) walk(r);
      else if (st.isFile()) h.update(`${r}\0${st.mode & 0o111 ? 'x' : '-'}\0`).update(readFileSync(path.join(dir, r))).update('\0');
    }
  };
  walk('');
  return h.digest('hex').slice(0, 16);
}

/**
 * Starts an engine, or skips the test (undefined) when Docker cannot be had here; under
 * REQUIRE_SERVERS=1 that throws instead.
 */
export async function startDockerEngine(t: Skippable): Promise<DockerEngine | undefined> {
  const missing = ensureInstalled();
  if (missing !== undefined) {
    if (requireServers) throw new Error(`REQUIRE_SERVERS=1 but ${missing}`);
    t.skip(missing);
    return undefined;
  }
  const dockerd = which('dockerd') as string;
  const version = /version ([\w.+~-]+)/.exec(spawnSync(dockerd, ['--version'], { encoding: 'utf8' }).stdout)?.[1] ?? 'unknown';
  const dir = path.join(cacheRoot(), `docker-${version.replace(/[^\w.-]/g, '_')}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const lock = path.join(dir, 'engine.lock');
  await takeLock(lock, 15 * 60_000);
  // exec-root holds containerd's sockets, whose paths must stay short (108 bytes).
  const execRoot = `/tmp/lb-dockerd-${process.pid}`;
  const sock = path.join(dir, 'docker.sock');
  rmSync(sock, { force: true });
  const child = spawn(
    dockerd,
    [
      '--data-root', path.join(dir, 'root'), '--exec-root', execRoot, '--pidfile', path.join(execRoot, 'dockerd.pid'),
      '-H', `unix://${sock}`, '--bridge=none', '--iptables=false', '--ip6tables=false', '--ip-forward=false', '--ip-masq=false',
    ],
    { detached: true, stdio: ['ignore', openSync(path.join(dir, 'dockerd.log'), 'w'), 'ignore'] },
  );
  const entry = register({ label: `dockerd ${dir}`, pgid: child.pid, dir: execRoot, afterDeathSync: () => releaseEngineLeftoversSync(execRoot) });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const dockerPath = which('docker') as string;
  const dockerHost = `unix://${sock}`;
  const env = { ...process.env, DOCKER_HOST: dockerHost };
  const docker = (args: readonly string[], opts: DockerRunOptions = {}) =>
    runCommand(dockerPath, args, { env: { ...env, ...opts.env }, input: opts.input, timeoutMs: opts.timeoutMs ?? 15 * 60_000 });
  let up = false;
  for (const end = Date.now() + 60_000; Date.now() < end && child.exitCode === null; ) {
    if ((await docker(['info', '--format', '{{.ServerVersion}}'], { timeoutMs: 10_000 })).code === 0) {
      up = true;
      break;
    }
    await sleep(200);
  }
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (child.exitCode === null) {
      process.kill(child.pid as number, 'SIGTERM'); // dockerd stops its containers and containerd
      const timer = setTimeout(() => killGroup(child.pid as number), 20_000);
      await exited;
      clearTimeout(timer);
    }
    unregister(entry);
    releaseEngineLeftoversSync(execRoot);
    rmSync(execRoot, { recursive: true, force: true });
    rmSync(lock, { force: true });
  };
  if (!up) {
    await stop();
    throw new Error(`dockerd did not start; see ${path.join(dir, 'dockerd.log')}`);
  }

  const engine: DockerEngine = {
    dockerPath,
    dockerHost,
    env,
    docker,
    ensureBaseImage: () => ensureBaseImageWith(dir, labelOf, async (tar, hash) => {
      const imp = await docker(['import', '-c', 'CMD ["/bin/bash"]', '-c', `LABEL ${RECIPE_LABEL}=${hash}`, tar, BASE_IMAGE]);
      if (imp.code !== 0) throw new Error(`docker import failed: ${imp.stderr}`);
    }),
    async buildImage(contextDir, tag, opts = {}) {
      const args = Object.entries(opts.buildArgs ?? {}).sort(([a], [b]) => a.localeCompare(b));
      // The base image's id is part of the key: a rebuilt base rebuilds what stands on it.
      const base = (await docker(['image', 'inspect', '--format', '{{.Id}}', BASE_IMAGE], { timeoutMs: 30_000 })).stdout.trim();
      const hash = hashTree(contextDir, JSON.stringify([opts.dockerfile ?? 'Dockerfile', args, base]));
      if ((await labelOf(tag)) === hash) return false;
      const r = await docker([
        'build', '--network', 'host', '--label', `${RECIPE_LABEL}=${hash}`, '-t', tag,
        ...(opts.dockerfile === undefined ? [] : ['-f', path.join(contextDir, opts.dockerfile)]),
        ...args.flatMap(([k, v]) => ['--build-arg', `${k}=${v}`]),
        contextDir,
      ]);
      if (r.code !== 0) throw new Error(`docker build of ${tag} failed:\n${(r.stdout + r.stderr).slice(-4000)}`);
      return true;
    },
    stop,
  };

  async function labelOf(image: string): Promise<string | undefined> {
    const r = await docker(['image', 'inspect', '--format', `{{ index .Config.Labels "${RECIPE_LABEL}" }}`, image], { timeoutMs: 30_000 });
    return r.code === 0 ? r.stdout.trim() : undefined;
  }
  return engine;
}
