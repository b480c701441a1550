/**
 * A throwaway single-node Vault / OpenBao server on integrated storage, for drills: raft data in
 * a fresh temp dir under the source's tmpDir, listening on loopback only, initialised with one
 * unseal key and unsealed. Its root token and key live in this process's memory only; its config
 * file holds no secret. A snapshot of another cluster is loaded into it with snapshot-force;
 * after that it carries the source cluster's keyring and tokens.
 *
 * stop() SIGKILLs it (nothing in it is worth a clean shutdown) and removes its dir; idempotent.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CommandRunner } from '../../core/command-runner.ts';
import { CancelledError, SourceError } from '../../core/errors.ts';
import { collect, succeeded } from '../process-kit.ts';
import type { FetchLike } from '../tunnel-fetch.ts';
import { VaultClient } from './vault-client.ts';
import { nowMs } from '../../util/clock.ts';

const READY_TIMEOUT_MS = 60_000;
const POLL_MS = 100;

export interface VaultScratchOptions {
  /** The source, for messages: 'vault source secrets'. */
  readonly what: string;
  readonly serverBin: string;
  readonly runner: CommandRunner;
  readonly tmpDir: string;
  readonly signal: AbortSignal;
  /**
   * Set when the runner's commands run elsewhere (they stage files): the node's dir is then a
   * `mktemp -d` there and it is reached through this (tunnel-fetch.ts).
   */
  readonly fetchFor?: (url: string) => Promise<FetchLike | undefined>;
}

export interface VaultScratch {
  readonly url: string;
  readonly rootToken: string;
  readonly dir: string;
  readonly version: string;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export function scratchHcl(dir: string, port: number, clusterPort: number): string {
  return [
    `storage "raft" {\n  path = ${JSON.stringify(path.join(dir, 'raft'))}\n  node_id = "lifeboat-drill"\n  performance_multiplier = 1\n}`,
    `listener "tcp" {\n  address = "127.0.0.1:${port}"\n  cluster_address = "127.0.0.1:${clusterPort}"\n  tls_disable = true\n}`,
    `api_addr = "http://127.0.0.1:${port}"`,
    `cluster_addr = "http://127.0.0.1:${clusterPort}"`,
    'disable_mlock = true',
    '',
  ].join('\n');
}

/** Polls until `check` holds, failing early when the process has exited. */
export async function waitFor(what: string, check: () => Promise<boolean>, o: { signal: AbortSignal; exited?: () => string | undefined; timeoutMs?: number }): Promise<void> {
  const deadline = nowMs() + (o.timeoutMs ?? READY_TIMEOUT_MS);
  for (;;) {
    if (o.signal.aborted) throw new CancelledError(`${what}: cancelled`);
    const gone = o.exited?.();
    if (gone !== undefined) throw new Error(`it exited (${gone})`);
    if (await check().catch(() => false)) return;
    if (nowMs() > deadline) throw new Error(`${what} did not happen within ${(o.timeoutMs ?? READY_TIMEOUT_MS) / 1000} s`);
    await sleep(POLL_MS);
  }
}

/** The node's dir with its server.hcl: in the source's tmpDir, or a `mktemp -d` where the runner's commands run. */
async function scratchDir(o: VaultScratchOptions, hcl: (dir: string) => string): Promise<{ dir: string; remove(): Promise<void> }> {
  if (o.runner.stageFile === undefined) {
    await mkdir(o.tmpDir, { recursive: true });
    const dir = await mkdtemp(path.join(o.tmpDir, 'vault-drill-'));
    const remove = () => rm(dir, { recursive: true, force: true });
    try {
      await mkdir(path.join(dir, 'raft'));
      await writeFile(path.join(dir, 'server.hcl'), hcl(dir));
    } catch (err) {
      await remove();
      throw err;
    }
    return { dir, remove };
  }
  // The config holds no secret; it goes in on stdin.
  const script = 'set -e; d=$(mktemp -d /tmp/lifeboat-vault-drill.XXXXXXXX); mkdir "$d/raft"; printf %s "$d"; cat > "$d/server.hcl.in"; '
    + 'sed "s#@DIR@#$d#g" "$d/server.hcl.in" > "$d/server.hcl"; rm -f "$d/server.hcl.in"';
  const r = await collect(o.runner, { command: 'sh', args: ['-c', script], signal: o.signal }, hcl('@DIR@'));
  const dir = r.stdout.trim();
  if (!succeeded(r) || !dir.startsWith('/tmp/lifeboat-vault-drill.')) {
    throw new SourceError(`${o.what}: cannot make the scratch server's dir where it runs: ${r.stderr.trim().split('\n').at(-1) || `exit ${r.code}`}`, { hint: 'it needs sh, mktemp, sed and a writable /tmp' });
  }
  return {
    dir,
    remove: async () => {
      const rmr = await collect(o.runner, { command: 'rm', args: ['-rf', '--', dir] });
      if (!succeeded(rmr)) throw new SourceError(`${o.what}: cannot remove the scratch dir ${dir}: ${rmr.stderr.trim()}`, { hint: `remove it by hand (rm -rf ${dir})` });
    },
  };
}

export async function startVaultScratch(o: VaultScratchOptions): Promise<VaultScratch> {
  const port = await freePort();
  const clusterPort = await freePort();
  const { dir, remove } = await scratchDir(o, (d) => scratchHcl(d, port, clusterPort));
  const hcl = path.join(dir, 'server.hcl');
  let proc: ReturnType<CommandRunner['start']> | undefined;
  let exited: string | undefined;
  let stderr = '';
  const kill = async (): Promise<void> => {
    if (proc !== undefined && exited === undefined) {
      proc.kill('SIGKILL');
      await proc.done;
    }
    await remove();
  };
  try {
    // No abort signal: the server lives until stop(), which a drill always calls.
    proc = o.runner.start({ command: o.serverBin, args: ['server', `-config=${hcl}`], cwd: dir });
    proc.stdin.end();
    proc.stdout.resume();
    void proc.done.then((e) => {
      exited = e.signal ?? `code ${e.code}`;
      stderr = e.stderr;
    });
    const url = `http://127.0.0.1:${port}`;
    const fetch = await o.fetchFor?.(url);
    const anon = new VaultClient({ what: `scratch server ${url}`, url, connectTimeoutMs: 30_000, idleTimeoutMs: 30_000, signal: o.signal, ...(fetch ? { fetch } : {}) });
    await waitFor('the scratch server answering', async () => (await anon.sealStatus()).initialized === false, { signal: o.signal, exited: () => exited });
    const init = await anon.json<{ keys: string[]; root_token: string }>('PUT', '/v1/sys/init', { secret_shares: 1, secret_threshold: 1 });
    const key = init.keys[0] as string;
    const status = await anon.json<{ sealed: boolean; version: string }>('PUT', '/v1/sys/unseal', { key });
    await waitActive(anon, o.signal, () => exited);
    let stopping: Promise<void> | undefined;
    return { url, rootToken: init.root_token, dir, version: status.version, stop: () => (stopping ??= kill()) };
  } catch (err) {
    await kill();
    if (err instanceof CancelledError) throw err;
    const last = stderr.trim().split('\n').slice(-3).join(' | ');
    throw new SourceError(`${o.what}: cannot start the scratch server ${o.serverBin}: ${err instanceof Error ? err.message : String(err)}${last ? `: ${last}` : ''}`, {
      cause: err,
      hint: /ENOENT|not found/i.test(`${String(err)} ${stderr}`) || exited === 'code 127'
        ? 'install OpenBao (bao) or Vault, or set server_bin to its path'
        : 'run that binary by hand to see why it does not start, or set server_bin to another one',
    });
  }
}

/** Until the node is unsealed and active (GET /v1/sys/health answers 200). */
export function waitActive(client: VaultClient, signal: AbortSignal, exited?: () => string | undefined): Promise<void> {
  return waitFor('the node becoming active', async () => {
    const h = await client.json<{ sealed: boolean; standby: boolean }>('GET', '/v1/sys/health');
    return h.sealed === false && h.standby === false;
  }, { signal, exited });
}
