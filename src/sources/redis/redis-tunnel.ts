/**
 * A TCP connection opened from where a runner's commands run (inside the store's container),
 * offered on this host as a private unix socket. The redis client connects there as if to the
 * server, so the replica snapshot (with its diskless `$EOF:<mark>` framing handled by the
 * client, never left in the RDB), the fingerprint and the online restore work the same
 * whether the server's port is reachable from the host or only inside its container
 * (`network_mode: none`, an unpublished port).
 *
 * A tunnel serves one connection: a command where the store runs copies bytes both ways
 * (bash's /dev/tcp with cat, else socat, else nc: whichever the image has). The socket sits
 * in a 0700 dir of the source's temp dir, so only this user can connect, and is removed as
 * soon as the connection is accepted; the command is killed when the connection closes.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { CommandRunner, RunningCommand } from '../../core/command-runner.ts';
import { SourceError, errorMessage } from '../../core/errors.ts';
import { collect, succeeded } from '../process-kit.ts';
import { RedisClient } from './redis-client.ts';
import type { ConnectOptions, RedisEndpoint } from './redis-client.ts';

export interface Tunnel {
  /** The unix socket to connect to. */
  readonly path: string;
  /** Why the command at the other end failed (its last stderr line), once it has. */
  failure(): string | undefined;
  /** Stops listening, kills the command, removes the socket's dir. Idempotent. */
  close(): Promise<void>;
}

type Tool = 'bash' | 'socat' | 'nc';

/** Probed once per runner: the image does not change under a running lifeboat. */
const tools = new WeakMap<CommandRunner, Promise<Tool>>();

async function probeTool(runner: CommandRunner, where: string, signal?: AbortSignal): Promise<Tool> {
  const r = await collect(runner, {
    command: 'sh',
    args: ['-c', 'for t in bash socat nc; do if command -v "$t" >/dev/null 2>&1; then echo "$t"; exit 0; fi; done; exit 127'],
    signal,
  });
  const tool = r.stdout.trim();
  if (succeeded(r) && (tool === 'bash' || tool === 'socat' || tool === 'nc')) return tool;
  if (r.code === 127 && r.stderr.includes('is not installed')) {
    throw new SourceError(`${where}: ${r.stderr.trim().split('\n')[0]}`, { hint: 'the redis source needs sh and one of bash, socat or nc in the image' });
  }
  throw new SourceError(`${where}: neither bash, socat nor nc is in the image, so the server cannot be reached from inside it`, {
    hint: 'install bash, socat or netcat in the image, or publish the port and remove container:/compose: from the source',
  });
}

function tunnelCommand(tool: Tool, host: string, port: number): { command: string; args: string[] } {
  const p = String(port);
  if (tool === 'socat') return { command: 'socat', args: ['-', `TCP:${host}:${p}`] };
  if (tool === 'nc') return { command: 'nc', args: [host, p] };
  // Two copiers; whichever ends first (the server closed, or our side's stdin did) ends the
  // other, so no process and no connection to the server outlives the tunnel. A background
  // job's stdin is /dev/null, hence fd 4. `wait -n` lets the TERM trap run at once; the last
  // `wait` reaps the copiers (a container's PID 1 often reaps nothing: no zombies left).
  const script = 'exec 3<>"/dev/tcp/$1/$2" || exit 69; exec 4<&0; cat <&3 & r=$!; cat <&4 >&3 & w=$!; '
    + 'trap \'kill $r $w 2>/dev/null; wait; exit 0\' TERM; wait -n; kill $r $w 2>/dev/null; wait; exit 0';
  return { command: 'bash', args: ['-c', script, 'tunnel', host, p] };
}

/** A socket path short enough for sun_path (108 bytes): the temp dir, else the system's. */
function socketRoot(tmpDir: string): string {
  return tmpDir.length <= 80 ? tmpDir : os.tmpdir();
}

/** Opens a one-connection tunnel to host:port as seen where `runner`'s commands run. */
export async function openTunnel(runner: CommandRunner, host: string, port: number, tmpDir: string, where: string, signal?: AbortSignal): Promise<Tunnel> {
  let probe = tools.get(runner);
  if (probe === undefined) {
    probe = probeTool(runner, where, signal);
    tools.set(runner, probe);
    probe.catch(() => tools.delete(runner));
  }
  const spec = tunnelCommand(await probe, host, port);
  const dir = await mkdtemp(path.join(socketRoot(tmpDir), 'redis-tunnel-'));
  const socketPath = path.join(dir, 's');
  let failure: string | undefined;
  let cmd: RunningCommand | undefined;
  let closed = false;
  const server = net.createServer((conn) => {
    server.close();
    void rm(dir, { recursive: true, force: true });
    const c = runner.start({ ...spec, signal });
    cmd = c;
    conn.on('error', () => undefined); // the command's end reports what went wrong
    c.stdin.on('error', () => undefined);
    conn.pipe(c.stdin);
    // The connection ends when the command has (below), so its failure is known by then.
    c.stdout.pipe(conn, { end: false });
    // Our side gone: end the command's stdin (its copier ends the rest), and signal it too.
    conn.on('close', () => {
      c.stdin.end();
      c.kill('SIGTERM');
    });
    c.done.then((f) => {
      // Killed is our doing (the connection closed); an exit code is the command's own failure.
      if (f.code !== null && f.code !== 0) failure = f.stderr.trim().split('\n').at(-1) || `exit ${f.code}`;
    }, (err: unknown) => {
      failure = errorMessage(err);
    }).finally(() => conn.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  }).catch(async (err: unknown) => {
    await rm(dir, { recursive: true, force: true });
    throw new SourceError(`${where}: cannot open a local socket to reach the server: ${errorMessage(err)}`, { cause: err });
  });
  return {
    path: socketPath,
    failure: () => failure,
    async close() {
      if (closed) return;
      closed = true;
      server.close();
      cmd?.kill('SIGTERM');
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A client of the server at `ep` as seen where `runner`'s commands run, through a tunnel that
 * closes with the client. A connection refused over there is one line naming it.
 */
export async function connectThrough(runner: CommandRunner, tmpDir: string, ep: RedisEndpoint, opts: ConnectOptions, where: string): Promise<RedisClient> {
  const tunnel = await openTunnel(runner, ep.host, ep.port, tmpDir, where, opts.signal);
  try {
    return await RedisClient.connect({ ...ep, path: tunnel.path }, opts);
  } catch (err) {
    const f = tunnel.failure();
    await tunnel.close();
    if (f === undefined) throw err;
    throw new SourceError(`${opts.what}: cannot connect to ${ep.host}:${ep.port} inside ${where}: ${f}`, {
      cause: err, retryable: true, hint: 'check the url as seen inside the container (host and port there) and that the server is up',
    });
  }
}
