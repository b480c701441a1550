/**
 * Runs a source's tools inside the container its store lives in (Docker or Podman, through
 * the Engine API), so pg_dump, redis-cli or sqlite3 are the image's own, at the store's own
 * version, and nothing needs installing on the host.
 *
 * A compose service is found by its labels (`com.docker.compose.project`/`.service`, or
 * Podman's `io.podman.compose.*`) on every start, so a service recreated by `compose up`
 * is found again. Streams go through the exec's connection: stdin as written, stdout and
 * stderr demultiplexed from the engine's 8-byte frames (stream, 0, 0, 0, big-endian length).
 * The exit status comes from the exec's inspect. The engine has no "kill an exec" call: a
 * kill signals the exec's process when the engine runs on this host (its pid from the
 * inspect), and closes the connection in any case, so a writer dies of a broken pipe.
 */
import { once } from 'node:events';
import { readdir, readlink } from 'node:fs/promises';
import { PassThrough, Writable } from 'node:stream';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CommandRunner, RunSpec, RunnerContainer, RunningCommand } from '../core/command-runner.ts';
import { CancelledError, TransportError, errorMessage } from '../core/errors.ts';
import { DockerApi } from './docker-api.ts';

const STDERR_TAIL = 8 * 1024;

/** Where the store lives: a container by name or id, or a compose service. */
export type ContainerTarget = { readonly container: string } | { readonly compose: { readonly project: string; readonly service: string } };

export function describeTarget(t: ContainerTarget): string {
  return 'container' in t ? `container ${t.container}` : `compose service ${t.compose.service} of project ${t.compose.project}`;
}

/** The running container of a target (name or id), or a coded error naming it and the next step. */
export async function resolveContainer(api: DockerApi, t: ContainerTarget): Promise<string> {
  if ('container' in t) return t.container;
  const { project, service } = t.compose;
  for (const prefix of ['com.docker.compose', 'io.podman.compose']) {
    const found = await api.listByLabels([`${prefix}.project=${project}`, `${prefix}.service=${service}`]);
    if (found.length === 0) continue;
    const running = found.filter((c) => c.State === 'running').sort((a, b) => (a.Names[0] ?? '').localeCompare(b.Names[0] ?? ''));
    const first = running[0];
    if (first === undefined) {
      throw new TransportError('container_not_running', `compose service ${service} of project ${project} has no running container: start it (docker compose -p ${project} up -d ${service}) and try again`, {
        hint: `docker compose -p ${project} up -d ${service}`,
      });
    }
    return first.Id;
  }
  throw new TransportError('container_not_found', `no container of compose service ${service} in project ${project}: check the project and service names (docker compose ls)`, {
    hint: `check the project and service names (docker compose ls; docker ps --filter label=com.docker.compose.project=${project})`,
  });
}

/** The id of a target's running container, undefined when it exists but is not running. */
export async function resolveContainerId(api: DockerApi, t: ContainerTarget): Promise<string | undefined> {
  if ('container' in t) {
    const c = await api.inspect(t.container);
    return c.running ? c.id : undefined;
  }
  try {
    return await resolveContainer(api, t);
  } catch (err) {
    if (err instanceof TransportError && err.code === 'container_not_running') return undefined;
    throw err;
  }
}

/** Seconds the store gets to stop (its own shutdown: a final save) before the engine kills it. */
const STORE_STOP_TIMEOUT_S = 60;

export function createContainerRunner(api: DockerApi, target: ContainerTarget): CommandRunner {
  const start = (spec: RunSpec): RunningCommand => startExec(api, target, spec);
  const container: Omit<RunnerContainer, 'hostView'> = {
    description: describeTarget(target),
    async stop() {
      // The id, not the compose labels: a stopped service is found by id only.
      const id = await resolveContainer(api, target);
      await api.stop(id, STORE_STOP_TIMEOUT_S);
      return {
        putArchive: (dir, tar) => api.putArchive(id, dir, tar),
        async start() {
          await api.start(id);
          for (let i = 0; !(await api.inspect(id)).running; i++) {
            if (i >= 100) throw new TransportError('container_not_running', `${describeTarget(target)} did not keep running after its start: see docker logs ${id.slice(0, 12)}`, { hint: `docker logs ${id.slice(0, 12)}` });
            await sleep(100);
          }
        },
      };
    },
  };
  return {
    start,
    container: { ...container, hostView: () => hostView(api, target, start) },
    /** A private dir made by mktemp inside the container (0700), the file written through exec stdin. */
    async stageFile(name, data, signal) {
      const where = describeTarget(target);
      // No signal for mktemp: killed after it made the dir, its name would be lost with the
      // dir left behind. It is instant; a cancellation is noticed right after it.
      const mk = await run(start({ command: 'mktemp', args: ['-d', '/tmp/lifeboat-stage.XXXXXXXX'] }), '');
      const dir = mk.stdout.trim();
      if (mk.code !== 0 || !dir.startsWith('/tmp/lifeboat-stage.')) {
        throw new TransportError('transport_failed', `cannot make a temp dir in ${where}: ${mk.stderr.trim() || `exit ${mk.code}`}`, { hint: 'the image needs mktemp and a writable /tmp' });
      }
      const remove = async (): Promise<void> => {
        await run(start({ command: 'rm', args: ['-rf', '--', dir] }), '');
      };
      if (signal?.aborted) {
        await remove().catch(() => undefined); // the cancellation is what to report
        throw new CancelledError(`staging ${name} in ${where} cancelled`);
      }
      const file = `${dir}/${name}`;
      try {
        const w = await run(start({ command: 'sh', args: ['-c', 'umask 077 && cat > "$1"', 'sh', file], signal }), data);
        if (w.code !== 0) throw new TransportError('transport_failed', `cannot write ${file} in ${where}: ${w.stderr.trim() || `exit ${w.code}`}`, { hint: 'free space in the container\'s /tmp' });
      } catch (err) {
        await remove().catch(() => undefined);
        throw err;
      }
      return { path: file, remove };
    },
  };
}

/**
 * /proc/PID/root of the container's main process: readable only by root on the engine's host.
 * A pid of another host (a remote engine) may name some unrelated process here, so the view
 * counts only when that process's mount namespace is the one an exec in the container sees.
 */
async function hostView(api: DockerApi, target: ContainerTarget, start: (spec: RunSpec) => RunningCommand): Promise<{ root: string; mountinfo: string } | undefined> {
  const c = await api.inspect(await resolveContainer(api, target));
  if (!c.running) {
    // A compose service without a running container failed in resolveContainer already.
    const next = 'container' in target ? `docker start ${target.container}` : `docker compose -p ${target.compose.project} up -d ${target.compose.service}`;
    throw new TransportError('container_not_running', `${describeTarget(target)} is not running: start it (${next}) and try again`, { hint: next });
  }
  if (c.pid <= 0) return undefined;
  let here: string;
  try {
    here = await readlink(`/proc/${c.pid}/ns/mnt`);
    await readdir(`/proc/${c.pid}/root`);
  } catch {
    return undefined; // not readable from here: the caller says what is needed
  }
  const there = await run(start({ command: 'readlink', args: ['/proc/self/ns/mnt'] }), '');
  if (there.code !== 0 || there.stdout.trim() !== here) return undefined;
  return { root: `/proc/${c.pid}/root`, mountinfo: `/proc/${c.pid}/mountinfo` };
}

/** Feeds `input` to a command and collects its (small) stdout. */
async function run(cmd: RunningCommand, input: string | AsyncIterable<Uint8Array>): Promise<Finished & { stdout: string }> {
  const parts: Buffer[] = [];
  cmd.stdout.on('data', (c: Buffer) => parts.push(c));
  const fed = (async () => {
    if (typeof input === 'string') {
      cmd.stdin.end(input);
      return;
    }
    for await (const chunk of input) {
      if (!cmd.stdin.write(chunk)) await once(cmd.stdin, 'drain');
    }
    cmd.stdin.end();
  })();
  const [fin] = await Promise.all([cmd.done, fed]);
  return { ...fin, stdout: Buffer.concat(parts).toString('utf8') };
}

type Finished = { code: number | null; signal: NodeJS.Signals | null; stderr: string };

function startExec(api: DockerApi, target: ContainerTarget, spec: RunSpec): RunningCommand {
  const stdout = new PassThrough();
  let socket: Socket | undefined;
  let execId: string | undefined;
  let pendingStdin: Array<{ chunk: Buffer; cb: (err?: Error | null) => void }> = [];
  let stdinEnded = false;
  let killedBy: NodeJS.Signals | null = null;
  let stderr = '';
  /** The first stdout bytes: Docker reports an exec that cannot start there ("OCI runtime exec failed"). */
  let head = '';

  const stdin = new Writable({
    write(chunk: Buffer, _enc, cb) {
      if (socket === undefined) pendingStdin.push({ chunk, cb });
      else if (socket.destroyed) cb();
      else socket.write(chunk, () => cb());
    },
    final(cb) {
      stdinEnded = true;
      if (socket !== undefined && !socket.destroyed) socket.end();
      cb();
    },
  });
  // An early-exiting command closes stdin under a writer: surface that through `done`.
  stdin.on('error', () => undefined);

  const kill = (sig: NodeJS.Signals = 'SIGTERM'): void => {
    killedBy ??= sig;
    const id = execId;
    if (id !== undefined) {
      // Right after the start the engine may not know the pid yet: ask a few times.
      void (async () => {
        for (let i = 0; i < 20; i++) {
          const info = await api.execInspect(id);
          if (info.running && info.pid > 0) {
            try {
              process.kill(info.pid, sig);
            } catch {
              // the engine runs elsewhere or the process is gone: closing the stream stops it
            }
            return;
          }
          if (info.exitCode !== null) return;
          await sleep(25);
        }
      })().catch(() => undefined);
    }
    socket?.destroy();
  };
  const onAbort = (): void => kill('SIGTERM');
  if (spec.signal?.aborted) queueMicrotask(onAbort);
  else spec.signal?.addEventListener('abort', onAbort, { once: true });

  const run = async (): Promise<Finished> => {
    const where = describeTarget(target);
    const container = await resolveContainer(api, target);
    // Killed before it started: never start it.
    if (killedBy !== null) return { code: null, signal: killedBy, stderr };
    execId = await api.execCreate(container, { cmd: [spec.command, ...spec.args], env: spec.env, workingDir: spec.cwd });
    if (killedBy !== null) return { code: null, signal: killedBy, stderr };
    socket = await api.execStart(execId);
    const s = socket;
    for (const p of pendingStdin) s.write(p.chunk, () => p.cb());
    pendingStdin = [];
    if (stdinEnded) s.end();
    // Killed while the exec was being set up: signal the process that has just started too.
    if (killedBy !== null) kill(killedBy);
    await demux(s, stdout, (text) => {
      stderr = (stderr + text).slice(-STDERR_TAIL);
    }, (c) => {
      if (head.length < 512) head += c.subarray(0, 512 - head.length).toString('utf8');
    });
    // The stream ends as the command exits; the engine may record the exit a moment later.
    let info = await api.execInspect(execId);
    for (let i = 0; info.running && i < 50; i++) {
      await sleep(20);
      info = await api.execInspect(execId);
    }
    if ((info.exitCode === 126 || info.exitCode === 127) && /executable file not found|no such file or directory/.test(stderr + head)) {
      stderr = `${spec.command} is not installed in ${where}: install it in the image (or use a source option naming its path)\n${stderr}`;
      return { code: 127, signal: null, stderr };
    }
    if (killedBy !== null && info.exitCode !== 0) return { code: null, signal: killedBy, stderr };
    return { code: info.exitCode, signal: null, stderr };
  };

  const done = run().then(
    (r) => {
      if (!stdout.writableEnded) stdout.end(); // a command that never started has no output
      return r;
    },
    (err: unknown) => {
      stdout.destroy();
      if (err instanceof TransportError) throw err;
      throw new TransportError('transport_failed', `running ${spec.command} in ${describeTarget(target)} failed: ${errorMessage(err)}`, { cause: err });
    },
  ).finally(() => spec.signal?.removeEventListener('abort', onAbort));
  // Callers await `done`; one that stops reading early must not crash the process.
  done.catch(() => undefined);
  return { stdout, stdin, done, kill };
}

/**
 * Splits the engine's multiplexed stream into stdout (with backpressure) and stderr text.
 * Resolves when the connection ends.
 */
function demux(s: Socket, out: PassThrough, onStderr: (text: string) => void, onStdout: (chunk: Buffer) => void): Promise<void> {
  return new Promise((resolve) => {
    let buf: Buffer = Buffer.alloc(0);
    s.on('data', (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      while (buf.length >= 8) {
        const len = buf.readUInt32BE(4);
        if (buf.length < 8 + len) break;
        const payload = buf.subarray(8, 8 + len);
        if (buf[0] === 2) onStderr(payload.toString('utf8'));
        else {
          onStdout(payload);
          if (!out.write(payload)) {
            s.pause();
            out.once('drain', () => s.resume());
          }
        }
        buf = buf.subarray(8 + len);
      }
    });
    s.on('error', () => undefined);
    s.on('close', () => {
      out.end();
      resolve();
    });
  });
}
