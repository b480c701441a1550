/**
 * Runs a client binary (psql, mariadb, redis-cli, restic) to completion and collects its
 * output. Input goes through stdin and secrets through `env`, so neither ever shows up in
 * argv (visible to every user through /proc).
 */
import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';

export interface RunOptions {
  input?: Buffer | string | NodeJS.ReadableStream;
  /** The complete environment of the child (callers merge process.env themselves). */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  uid?: number;
  gid?: number;
  /** Kill the child with SIGKILL after this long; a wedged client must not hang the test run. */
  timeoutMs?: number;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  /** stdout as bytes, for binary output (restic dump, cat blob). */
  stdoutBytes: Buffer;
  /** Exit code; -1 when the child died of a signal or could not start. */
  code: number;
  signal: NodeJS.Signals | null;
}

export function runCommand(command: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      uid: opts.uid,
      gid: opts.gid,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let spawnError: Error | undefined;
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    const timer = opts.timeoutMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.once('error', (e) => {
      spawnError = e;
    });
    // EPIPE when the child exits without reading all input is expected (e.g. a failed login).
    child.stdin.on('error', () => undefined);
    const input = opts.input;
    if (input === undefined) child.stdin.end();
    else if (typeof input === 'string' || Buffer.isBuffer(input)) child.stdin.end(input);
    else (input as Readable).pipe(child.stdin);
    child.once('close', (code, signal) => {
      if (timer !== undefined) clearTimeout(timer);
      const stdoutBytes = Buffer.concat(out);
      let stderr = Buffer.concat(err).toString('utf8');
      if (spawnError !== undefined) stderr += `${stderr === '' ? '' : '\n'}${command}: ${spawnError.message}`;
      resolve({ stdout: stdoutBytes.toString('utf8'), stderr, stdoutBytes, code: code ?? -1, signal });
    });
  });
}

/** runCommand that throws (with the command name and its stderr) on a non-zero exit. */
export async function runCommandOk(command: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const result = await runCommand(command, args, opts);
  if (result.code !== 0) {
    const why = result.signal === null ? `exit code ${result.code}` : `signal ${result.signal}`;
    throw new Error(`${command} ${args[0] ?? ''} failed (${why}): ${result.stderr.trim() || result.stdout.trim()}`);
  }
  return result;
}
