/**
 * Running a store's client tools (pg_dump, mariadb-dump, psql…) through a CommandRunner:
 * feeding stdin from a stream with back-pressure, collecting a short stdout, or handing a long stdout on as a stream that fails
 * when the tool fails. The tool's exit status is only known after its stdout ended, so the
 * stream waits for it before it ends: a consumer never sees a clean end of a failed dump.
 */
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Writable } from 'node:stream';
import type { CommandRunner, RunSpec, RunningCommand, StagedFile } from '../core/command-runner.ts';
import { nowMs } from '../util/clock.ts';

export interface Finished {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stderr: string;
}

export interface Collected extends Finished {
  readonly stdout: string;
}

export const succeeded = (f: Finished): boolean => f.code === 0 && f.signal === null;

/** Writes one chunk; resolves false when the child closed its stdin (it exited early). */
export function write(stdin: Writable, chunk: Uint8Array): Promise<boolean> {
  if (stdin.destroyed || stdin.writableEnded) return Promise.resolve(false);
  if (stdin.write(chunk)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      stdin.off('drain', onDrain);
      stdin.off('close', onClose);
      resolve(ok);
    };
    const onDrain = () => done(true);
    const onClose = () => done(false);
    stdin.on('drain', onDrain);
    stdin.on('close', onClose);
  });
}

/**
 * Pipes `input` into the child's stdin. Rejects only when reading `input` fails (then the
 * child is killed, so it cannot load half an artifact as if it were whole); a child that
 * stops reading is reported by its exit status instead.
 */
export async function feed(cmd: RunningCommand, input: string | AsyncIterable<Uint8Array>): Promise<void> {
  if (typeof input === 'string') {
    cmd.stdin.end(input);
    return;
  }
  try {
    for await (const chunk of input) {
      if (!(await write(cmd.stdin, chunk))) return;
    }
  } catch (err) {
    cmd.kill('SIGKILL');
    throw err;
  }
  cmd.stdin.end();
}

/** Runs a command to its end with optional stdin, collecting stdout as text. */
export async function collect(runner: CommandRunner, spec: RunSpec, input: string | AsyncIterable<Uint8Array> = ''): Promise<Collected> {
  const cmd = runner.start(spec);
  const parts: Buffer[] = [];
  cmd.stdout.on('data', (c: Buffer) => void parts.push(c));
  const fed = feed(cmd, input);
  const [fin] = await Promise.all([cmd.done, fed]);
  return { ...fin, stdout: Buffer.concat(parts).toString('utf8') };
}

/**
 * The child's stdout as a stream that, after the last byte, waits for the exit status and
 * throws `check`'s error when the tool failed. If the consumer stops early the child is killed.
 * `check` also gets the last bytes of the output (for trailer checks).
 */
export async function* guardedOutput(
  cmd: RunningCommand,
  check: (fin: Finished, tail: Buffer) => Error | undefined,
  tailBytes = 256,
): AsyncGenerator<Uint8Array> {
  let tail: Buffer = Buffer.alloc(0);
  let finished = false;
  try {
    for await (const chunk of cmd.stdout) {
      const b = chunk as Buffer;
      tail = b.length >= tailBytes ? b.subarray(b.length - tailBytes) : Buffer.concat([tail, b]).subarray(-tailBytes);
      yield b;
    }
    const fin = await cmd.done;
    finished = true;
    const err = check(fin, Buffer.from(tail));
    if (err) throw err;
  } finally {
    if (!finished) {
      cmd.kill('SIGKILL');
      await cmd.done;
    }
  }
}

/** Removes every occurrence of a secret from tool output before it reaches a message. */
export function scrub(text: string, secret: string | undefined): string {
  const trimmed = text.trim();
  return secret ? trimmed.split(secret).join('***') : trimmed;
}

/** How long a stalled tool gets between SIGTERM and SIGKILL. */
const STOP_GRACE_MS = 2000;

/**
 * `cmd` with an idle watchdog: a tool that has written nothing to stdout for `idleMs` while
 * lifeboat was ready to read (a server that accepted the connection and stopped answering) is
 * stopped, and its result's stderr ends with a line saying so. Time the reader spends not
 * reading (back-pressure from a slow repository) does not count.
 */
export function watchIdle(cmd: RunningCommand, idleMs: number): RunningCommand {
  const out = new PassThrough();
  let last = nowMs();
  let stalled = false;
  cmd.stdout.on('data', () => (last = nowMs()));
  cmd.stdout.on('error', (err) => out.destroy(err));
  cmd.stdout.pipe(out);
  const timer = setInterval(() => {
    // Output waiting for the reader: the slow side is ours.
    if (out.readableLength > 0 || out.writableLength > 0 || cmd.stdout.readableLength > 0) last = nowMs();
    if (nowMs() - last < idleMs) return;
    stalled = true;
    clearInterval(timer);
    cmd.kill('SIGTERM');
    setTimeout(() => cmd.kill('SIGKILL'), STOP_GRACE_MS).unref();
  }, Math.max(10, Math.min(1000, idleMs / 4)));
  timer.unref();
  const done = cmd.done.then((fin) => {
    clearInterval(timer);
    if (!stalled) return fin;
    const note = `lifeboat: no output for ${formatSeconds(idleMs)} (timeouts.idle), stopped`;
    return { ...fin, stderr: fin.stderr ? `${fin.stderr.trimEnd()}\n${note}` : note };
  });
  return { stdout: out, stdin: cmd.stdin, done, kill: (sig) => cmd.kill(sig) };
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}

/**
 * `data` as a private file (0600 in a 0700 dir) that `runner`'s commands can read: inside the
 * container for a container runner, else under `tmpDir`. The caller removes it.
 */
export async function stageFile(runner: CommandRunner, tmpDir: string, name: string, data: string | AsyncIterable<Uint8Array>, signal?: AbortSignal): Promise<StagedFile> {
  if (runner.stageFile) return runner.stageFile(name, data, signal);
  const dir = await mkdtemp(join(tmpDir, 'stage-'));
  const remove = (): Promise<void> => rm(dir, { recursive: true, force: true });
  try {
    const file = join(dir, name);
    await pipeline(typeof data === 'string' ? Readable.from([Buffer.from(data)]) : Readable.from(data), createWriteStream(file, { mode: 0o600 }), { signal });
    return { path: file, remove };
  } catch (err) {
    await remove();
    throw err;
  }
}
