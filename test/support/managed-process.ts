/**
 * A long-running server process owned by a test: spawned detached (its own process group, so
 * one signal reaches its children too), logging into a file in its temp dir, and unref'd so
 * a test that forgets to stop it does not keep the test process alive; the cleanup registry
 * kills it at exit instead.
 *
 * Output goes to a file rather than a pipe: a pipe nobody drains can block a chatty server,
 * and the file survives for the error message when start-up fails.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { killGroup } from './cleanup.ts';

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the binary could not be started at all (ENOENT, EACCES). */
  error?: Error;
}

export interface SpawnOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  uid?: number;
  gid?: number;
  /** File receiving stdout and stderr. */
  logFile: string;
}

export class ManagedProcess {
  readonly pid: number;
  readonly logFile: string;
  readonly exited: Promise<ExitInfo>;
  #child: ChildProcess;
  #exit: ExitInfo | undefined;

  constructor(command: string, args: readonly string[], opts: SpawnOptions) {
    const fd = openSync(opts.logFile, 'a');
    try {
      this.#child = spawn(command, args, {
        env: opts.env ?? process.env,
        cwd: opts.cwd,
        uid: opts.uid,
        gid: opts.gid,
        detached: true,
        stdio: ['ignore', fd, fd],
      });
    } finally {
      closeSync(fd);
    }
    this.logFile = opts.logFile;
    this.exited = new Promise((resolve) => {
      this.#child.once('error', (error) => {
        // 'exit' does not follow a failed spawn; record the failure as the exit.
        this.#exit ??= { code: null, signal: null, error };
        resolve(this.#exit);
      });
      this.#child.once('exit', (code, signal) => {
        this.#exit ??= { code, signal };
        resolve(this.#exit);
      });
    });
    // A failed spawn has no pid; -1 keeps the type simple and never names a real group.
    this.pid = this.#child.pid ?? -1;
    this.#child.unref();
  }

  /** How the process ended, or undefined while it runs. */
  get exitInfo(): ExitInfo | undefined {
    return this.#exit;
  }

  /** A short description of the exit, for error messages. */
  describeExit(): string {
    const e = this.#exit;
    if (e === undefined) return 'still running';
    if (e.error !== undefined) return `could not start: ${e.error.message}`;
    return e.signal !== null ? `killed by ${e.signal}` : `exited with code ${e.code}`;
  }

  /** The last lines of the log, for error messages. */
  logTail(lines = 15): string {
    try {
      return readFileSync(this.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  /** Sends a signal to the leader only (e.g. SIGINT = fast shutdown for the postmaster). */
  signal(signal: NodeJS.Signals): void {
    if (this.#exit !== undefined || this.pid < 0) return;
    try {
      process.kill(this.pid, signal);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }

  /** SIGKILLs the whole group and waits until the leader is reaped. */
  async kill(): Promise<ExitInfo> {
    if (this.pid > 0) killGroup(this.pid);
    return this.#waitExit();
  }

  /**
   * Asks the leader to shut down with `signal`, waits up to `graceMs`, then SIGKILLs the
   * group. Returns promptly when the process is already dead (e.g. killed by a test). The
   * final group kill catches children that outlived their leader.
   */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 10_000): Promise<ExitInfo> {
    if (this.#exit === undefined) {
      this.signal(signal);
      const timedOut = Symbol('timeout');
      const ac = new AbortController();
      this.#child.ref();
      const winner = await Promise.race([this.exited, sleep(graceMs, timedOut, { signal: ac.signal }).catch(() => undefined)]);
      ac.abort();
      if (winner === timedOut && this.pid > 0) killGroup(this.pid);
    }
    const info = await this.#waitExit();
    if (this.pid > 0) killGroup(this.pid);
    return info;
  }

  async #waitExit(): Promise<ExitInfo> {
    // Hold the event loop open while waiting: the child is unref'd, and without a ref the
    // test process could end mid-await and leave the work to the exit hook.
    this.#child.ref();
    try {
      return await this.exited;
    } finally {
      this.#child.unref();
    }
  }
}
