/**
 * A TCP connection opened from where a runner's commands run (inside the store's container,
 * or on the host reached over ssh), offered on this host as a private unix socket. A source's
 * client connects there as if to the server, so a store whose port is reachable only where
 * it runs (`network_mode: none`, an unpublished port, a server listening on the remote
 * host's loopback) is backed up, fingerprinted and restored the same way as a local one.
 *
 * A tunnel serves one connection (`openTunnel`: a redis replica stream, one client each) or
 * every connection made to it until closed (`openTunnelListener`: an HTTP client that opens
 * several). Each connection gets its own command where the store runs copying bytes both
 * ways (bash's /dev/tcp with cat, else socat, else nc: whichever is there). The socket sits
 * in a 0700 dir of the source's temp dir, so only this user can connect; a one-connection
 * tunnel removes it as soon as the connection is accepted. A command is killed when its
 * connection closes.
 */
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { CommandRunner, RunningCommand } from '../core/command-runner.ts';
import { SourceError, errorMessage } from '../core/errors.ts';
import { collect, succeeded } from './process-kit.ts';

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
    throw new SourceError(`${where}: ${r.stderr.trim().split('\n')[0]}`, { hint: 'reaching the store where it runs needs sh and one of bash, socat or nc there' });
  }
  throw new SourceError(`${where}: neither bash, socat nor nc is there, so the server cannot be reached from where it runs`, {
    hint: 'install bash, socat or netcat there, or make the port reachable from this host and remove container:/compose:/ssh: from the source',
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

async function toolFor(runner: CommandRunner, where: string, signal?: AbortSignal): Promise<Tool> {
  let probe = tools.get(runner);
  if (probe === undefined) {
    probe = probeTool(runner, where, signal);
    tools.set(runner, probe);
    probe.catch(() => tools.delete(runner));
  }
  return probe;
}

/** Opens a one-connection tunnel to host:port as seen where `runner`'s commands run. */
export function openTunnel(runner: CommandRunner, host: string, port: number, tmpDir: string, where: string, signal?: AbortSignal): Promise<Tunnel> {
  return listen(runner, host, port, tmpDir, where, false, signal);
}

/**
 * A tunnel that accepts every connection until closed, each through a command of its own:
 * for clients that open several (an HTTP agent's pool). `failure()` is the last one's.
 */
export function openTunnelListener(runner: CommandRunner, host: string, port: number, tmpDir: string, where: string, signal?: AbortSignal): Promise<Tunnel> {
  return listen(runner, host, port, tmpDir, where, true, signal);
}

async function listen(runner: CommandRunner, host: string, port: number, tmpDir: string, where: string, isListener: boolean, signal?: AbortSignal): Promise<Tunnel> {
  const spec = tunnelCommand(await toolFor(runner, where, signal), host, port);
  const dir = await mkdtemp(path.join(socketRoot(tmpDir), 'tunnel-'));
  const socketPath = path.join(dir, 's');
  let failure: string | undefined;
  const commands = new Set<RunningCommand>();
  let closed = false;
  const server = net.createServer((conn) => {
    if (!isListener) {
      server.close();
      // At once, so the socket is gone before the client can send anything.
      rmSync(dir, { recursive: true, force: true });
    }
    const c = runner.start({ ...spec, signal });
    commands.add(c);
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
    }).finally(() => {
      commands.delete(c);
      conn.destroy();
    });
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
      for (const c of commands) c.kill('SIGTERM');
      await rm(dir, { recursive: true, force: true });
    },
  };
}
