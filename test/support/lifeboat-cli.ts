/**
 * Runs the lifeboat CLI (bin/lifeboat.js) as a user would: a child process with its own
 * environment. The password travels in LIFEBOAT_PASSWORD, never argv.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/lifeboat.js', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  stdoutBytes: Buffer;
}

/** The last line of a `--json` run's stdout (the run report), parsed. */
export const lastJson = <T>(r: Pick<CliResult, 'stdout'>): T => JSON.parse(r.stdout.trim().split('\n').at(-1) as string) as T;

/** The part of a stack run's report (`backup`, `restore`, `drill` with `--json`) the e2e tests read. */
export interface StackReport {
  status: string;
  sources: Array<{ source: string; status: string; error?: string; fingerprint_diff?: string[]; cleanup?: string }>;
}

export interface CliOptions {
  password?: string;
  env?: NodeJS.ProcessEnv;
  input?: Buffer | string;
  cwd?: string;
}

/** This process's environment without LIFEBOAT_* variables, plus the password and `opts.env`. */
function cliEnv(opts: CliOptions): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('LIFEBOAT_')) env[k] = v;
  if (opts.password !== undefined) env.LIFEBOAT_PASSWORD = opts.password;
  return Object.assign(env, opts.env);
}

export function lifeboat(args: string[], opts: CliOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: cliEnv(opts), cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code) => {
      const stdoutBytes = Buffer.concat(out);
      resolve({ code: code ?? -1, stdout: stdoutBytes.toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), stdoutBytes });
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** Spawns the CLI without waiting (for kill tests; `stdin: 'pipe'` to feed it as it runs). */
export function spawnLifeboat(args: string[], opts: CliOptions & { stdin?: 'pipe' | 'ignore' } = {}) {
  return spawn(process.execPath, [BIN, ...args], { env: cliEnv(opts), cwd: opts.cwd, stdio: [opts.stdin ?? 'ignore', 'pipe', 'pipe'] });
}

export const LIFEBOAT_BIN = BIN;
