/**
 * Runs commands on this machine as child processes (the default transport).
 *
 * Each command gets its own process group (`detached`), and every signal goes to the whole
 * group: a hook or a `command` source is a shell that starts other programs (`dump | gzip`,
 * `sleep 100 & wait`), and a signal to the shell alone leaves those running, holding the pipes
 * open, so the run would never end. Being its own group also keeps a terminal's Ctrl-C from
 * reaching the children directly: lifeboat decides what to stop, and when (after-hooks still
 * run after a Ctrl-C). Commands still running when lifeboat exits get SIGTERM, group and all.
 */
import { spawn } from 'node:child_process';
import type { CommandRunner, RunSpec, RunningCommand } from '../core/command-runner.ts';

const STDERR_TAIL = 8 * 1024;

/** Process group ids of the commands still running. */
const live = new Set<number>();
let exitHookInstalled = false;

function killGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    // ESRCH: the group is already gone
  }
}

export const localRunner: CommandRunner = {
  start(spec: RunSpec): RunningCommand {
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      process.on('exit', () => {
        for (const pid of live) killGroup(pid, 'SIGTERM');
      });
    }
    const child = spawn(spec.command, [...spec.args], {
      cwd: spec.cwd,
      env: { ...process.env, ...spec.env },
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    });
    const pid = child.pid;
    if (pid !== undefined) live.add(pid);
    const kill = (sig: NodeJS.Signals = 'SIGTERM'): void => {
      if (pid !== undefined && live.has(pid)) killGroup(pid, sig);
    };
    const onAbort = (): void => kill('SIGTERM');
    if (spec.signal?.aborted) queueMicrotask(onAbort);
    else spec.signal?.addEventListener('abort', onAbort, { once: true });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => {
      stderr = (stderr + s).slice(-STDERR_TAIL);
    });
    // An early-exiting child closes stdin under a writer: surface that through `done`.
    child.stdin.on('error', () => undefined);
    const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) => {
      const settle = (r: { code: number | null; signal: NodeJS.Signals | null; stderr: string }): void => {
        spec.signal?.removeEventListener('abort', onAbort);
        resolve(r);
      };
      child.on('error', (err) => settle({ code: 127, signal: null, stderr: `${stderr}${err.message}` }));
      // Until its pipes close, the group is the command's; afterwards it holds only what the
      // command started on purpose and detached from us (an after-hook's `app >log 2>&1 &`).
      child.on('close', (code, signal) => {
        if (pid !== undefined) live.delete(pid);
        settle({ code, signal, stderr });
      });
    });
    return { stdout: child.stdout, stdin: child.stdin, done, kill };
  },
};
