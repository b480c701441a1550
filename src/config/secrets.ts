/**
 * Secret references of lifeboat.yml → secret values, at the moment a source needs them.
 *
 *   { env: NAME }      the variable's value; unset or empty is an error
 *   { file: PATH }     the file's content without trailing newlines (PATH relative to lifeboat.yml)
 *   { command: CMD }   `sh -c CMD` run in lifeboat.yml's directory; its stdout without trailing newlines
 *
 * A value is never logged, put in an error or kept beyond this resolver's cache. Errors name
 * the reference (variable, file, command and its exit status) and what the secret was for, never
 * the value nor the command's output (which could contain it). A secret file that group or others
 * may read is accepted but noted in `warnings` and passed to `onWarning` (once per file), so the
 * user sees it.
 */
import { spawn } from 'node:child_process';
import type { z } from 'zod';
import { readFile, stat } from 'node:fs/promises';
import { ConfigError } from '../core/errors.ts';
import type { SecretRef, SecretResolver } from '../sources/source-kit.ts';
import { resolvePath } from './paths.ts';
import { childSchema, isSecretRefSchema, isSecretRefValue } from './schema.ts';
import { formatKeyPath } from './config-issues.ts';

export interface SecretResolverOptions {
  readonly env: NodeJS.ProcessEnv;
  /** Relative `{ file }` paths and `{ command }`s are relative to this (lifeboat.yml's directory). */
  readonly baseDir: string;
  /** A `{ command }` that runs longer is killed (default 2 minutes: enough to unlock a password store). */
  readonly commandTimeoutMs?: number;
  /** Called once per secret file that group or others can read (the note names it and says chmod 600). */
  readonly onWarning?: (message: string) => void;
}

/** A SecretResolver that also collects warnings about how secrets are stored. */
export type CheckedSecretResolver = SecretResolver & { readonly warnings: readonly string[] };

const stripNewlines = (s: string): string => s.replace(/[\r\n]+$/, '');

export function createSecretResolver(opts: SecretResolverOptions): CheckedSecretResolver {
  const warnings: string[] = [];
  const warnedFiles = new Set<string>();
  // One resolution per reference: a password command may prompt or be slow.
  const cache = new Map<string, Promise<string>>();

  const fromEnv = async (name: string, what: string): Promise<string> => {
    const v = opts.env[name];
    if (v === undefined || v === '') {
      throw new ConfigError(`${what}: environment variable ${name} is ${v === undefined ? 'not set' : 'empty'}`, {
        key: what,
        hint: `set ${name} in lifeboat's environment, or reference the secret with { file: PATH } instead`,
      });
    }
    return v;
  };

  const fromFile = async (file: string, what: string): Promise<string> => {
    const abs = resolvePath(file, opts.baseDir, opts.env);
    let text: string;
    try {
      const st = await stat(abs);
      if ((st.mode & 0o077) !== 0 && process.platform !== 'win32') {
        const note = `${what}: secret file ${abs} can be read by group or others (mode ${(st.mode & 0o777).toString(8)}); run chmod 600 ${abs}`;
        if (!warnedFiles.has(abs)) {
          warnedFiles.add(abs);
          warnings.push(note);
          opts.onWarning?.(note);
        }
      }
      text = await readFile(abs, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
      throw new ConfigError(`${what}: cannot read secret file ${abs}: ${code}`, {
        key: what,
        hint: 'check the { file: PATH } reference (relative paths are relative to lifeboat.yml)',
      });
    }
    const value = stripNewlines(text);
    if (value === '') throw new ConfigError(`${what}: secret file ${abs} is empty`, { key: what });
    return value;
  };

  const fromCommand = (command: string, what: string): Promise<string> => new Promise((resolve, reject) => {
    const fail = (msg: string): void => reject(new ConfigError(`${what}: secret command "${command}" ${msg}`, {
      key: what,
      hint: 'run the command by hand to see why it fails',
    }));
    // stderr is drained and dropped: it may echo what the command handles.
    const child = spawn('/bin/sh', ['-c', command], { cwd: opts.baseDir, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.commandTimeoutMs ?? 120_000);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.resume();
    child.on('error', (err) => {
      clearTimeout(timer);
      fail(`could not be started: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (timedOut) return fail(`did not finish within ${Math.round((opts.commandTimeoutMs ?? 120_000) / 1000)}s`);
      if (signal !== null) return fail(`was killed by ${signal}`);
      if (code !== 0) return fail(`exited with status ${code}`);
      const value = stripNewlines(Buffer.concat(out).toString('utf8'));
      if (value === '') return fail('printed nothing');
      resolve(value);
    });
  });

  const resolver = (ref: SecretRef, what: string): Promise<string> => {
    const cacheKey = JSON.stringify(ref);
    const cached = cache.get(cacheKey);
    if (cached) return cached;
    const p = 'env' in ref ? fromEnv(ref.env, what) : 'file' in ref ? fromFile(ref.file, what) : fromCommand(ref.command, what);
    cache.set(cacheKey, p);
    // A failure is not cached: the user may fix it and the caller retry.
    p.catch(() => cache.delete(cacheKey));
    return p;
  };
  return Object.assign(resolver, { warnings });
}

/** Every secret reference of a parsed config, with the key path it is written at (`sources.pg.connection.password`). */
export function secretReferences(schema: z.ZodType, value: unknown, at: ReadonlyArray<string | number> = []): Array<{ key: string; ref: SecretRef }> {
  if (value === null || typeof value !== 'object') return [];
  if (isSecretRefSchema(schema)) return isSecretRefValue(value) ? [{ key: formatKeyPath(at), ref: value }] : [];
  const entries: Array<[string | number, unknown]> = Array.isArray(value) ? value.map((v, i) => [i, v]) : Object.entries(value);
  return entries.flatMap(([k, v]) => {
    const child = childSchema(schema, value, k);
    return child ? secretReferences(child, v, [...at, k]) : [];
  });
}
