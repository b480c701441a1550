/** Runs commands on this machine as child processes (the default transport). */
import { spawn } from 'node:child_process';
import type { CommandRunner, RunSpec, RunningCommand } from '../core/command-runner.ts';

const STDERR_TAIL = 8 * 1024;

export const localRunner: CommandRunner = {
  start(spec: RunSpec): RunningCommand {
    const child = spawn(spec.command, [...spec.args], {
      cwd: spec.cwd,
      env: { ...process.env, ...spec.env },
      stdio: ['pipe', 'pipe', 'pipe'],
      signal: spec.signal,
    });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => {
      stderr = (stderr + s).slice(-STDERR_TAIL);
    });
    // An early-exiting child closes stdin under a writer: surface that through `done`.
    child.stdin.on('error', () => undefined);
    const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) => {
      child.on('error', (err) => resolve({ code: 127, signal: null, stderr: `${stderr}${err.message}` }));
      child.on('close', (code, signal) => resolve({ code, signal, stderr }));
    });
    return { stdout: child.stdout, stdin: child.stdin, done, kill: (sig = 'SIGTERM') => void child.kill(sig) };
  },
};
