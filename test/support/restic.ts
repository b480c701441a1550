/**
 * The restic CLI as the oracle for lifeboat's repository format: tests write with lifeboat
 * and read with restic, or the other way round.
 *
 * The repository and password travel in RESTIC_REPOSITORY and RESTIC_PASSWORD (never argv:
 * a REST URL may carry credentials). Inherited RESTIC_* variables are dropped so the caller's
 * shell cannot point a test at another repository or password file. `--no-cache` by default:
 * a cache shared between tests would let restic answer from stale local copies after
 * lifeboat changed the repository.
 */
import { binaryPath } from './binaries.ts';
import { runCommand, type RunResult } from './run-command.ts';

export interface ResticOptions {
  repo: string;
  password: string;
  input?: Buffer | string | NodeJS.ReadableStream;
  /** Extra environment, applied last (e.g. RESTIC_CACHE_DIR, TMPDIR). */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Let restic use its cache (default off). */
  cache?: boolean;
}

export interface ResticResult {
  stdout: string;
  stderr: string;
  /** stdout as bytes, for `dump` and `cat blob`. */
  stdoutBytes: Buffer;
  code: number;
}

/** Runs restic; never throws on a non-zero exit (see resticOk). */
export async function restic(args: string[], opts: ResticOptions): Promise<ResticResult> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('RESTIC_')) env[k] = v;
  Object.assign(env, { RESTIC_REPOSITORY: opts.repo, RESTIC_PASSWORD: opts.password }, opts.env);
  const fullArgs = opts.cache === true ? args : ['--no-cache', ...args];
  const r: RunResult = await runCommand(binaryPath('restic'), fullArgs, { env, cwd: opts.cwd, input: opts.input, timeoutMs: 300_000 });
  return { stdout: r.stdout, stderr: r.stderr, stdoutBytes: r.stdoutBytes, code: r.code };
}

/** Runs restic and throws, with its stderr, on a non-zero exit. */
export async function resticOk(args: string[], opts: ResticOptions): Promise<ResticResult> {
  const r = await restic(args, opts);
  if (r.code !== 0) throw new Error(`restic ${args.join(' ')} failed with exit code ${r.code}: ${r.stderr.trim()}`);
  return r;
}

/**
 * Runs restic with --json and parses stdout. Commands that stream (backup, restore) print one
 * JSON object per line; for those the last line (the summary) is returned.
 */
export async function resticJSON<T = unknown>(args: string[], opts: ResticOptions): Promise<T> {
  const r = await resticOk(['--json', ...args], opts);
  const text = r.stdout.trim();
  try {
    return JSON.parse(text) as T;
  } catch {
    const lines = text.split('\n').filter((l) => l.trim() !== '');
    const last = lines.at(-1);
    if (last === undefined) throw new Error(`restic ${args.join(' ')} printed no JSON`);
    return JSON.parse(last) as T;
  }
}

/** Every JSON line restic printed (status and summary messages of backup/restore). */
export async function resticJSONLines<T = unknown>(args: string[], opts: ResticOptions): Promise<T[]> {
  const r = await resticOk(['--json', ...args], opts);
  return r.stdout.split('\n').filter((l) => l.trim().startsWith('{')).map((l) => JSON.parse(l) as T);
}

/** `restic init` of a format-version-2 repository (restic 0.14 defaults to version 1). */
export async function resticInit(opts: ResticOptions): Promise<ResticResult> {
  return resticOk(['init', '--repository-version', '2'], opts);
}
