/**
 * Which values of lifeboat.yml are file system paths, and how they are made absolute.
 *
 * A relative path is relative to the directory of lifeboat.yml (not to the working directory,
 * so that `lifeboat -c /srv/stack/lifeboat.yml` means the same thing from anywhere), and a
 * leading `~` is the user's home directory. The keys that are paths:
 *   repository.url and copies[].repository.url   when `local:PATH` or a bare path (→ `local:/abs`)
 *   state_dir
 *   every secret reference `{ file: PATH }`       (wherever a secret is expected)
 *   the path keys each source type declares       (its `pathKeys`)
 * Remote URLs (s3:, rest:, …), hook commands and exclude patterns are left as written.
 */
import os from 'node:os';
import path from 'node:path';
import type { z } from 'zod';
import { childSchema, isSecretRefSchema, isSecretRefValue } from './schema.ts';
import type { SourceConfig, SourceTypes } from './schema.ts';

export function homeDir(env: NodeJS.ProcessEnv): string {
  return env.HOME !== undefined && env.HOME !== '' ? env.HOME : os.homedir();
}

/** `~` and `~/x` → the home directory; a relative path → against `baseDir`. */
export function resolvePath(p: string, baseDir: string, env: NodeJS.ProcessEnv): string {
  if (p === '~') return homeDir(env);
  if (p.startsWith('~/')) return path.join(homeDir(env), p.slice(2));
  return path.resolve(baseDir, p);
}

/** `local:PATH` or a bare path → `local:/absolute`; a URL with another scheme is kept. */
export function resolveRepositoryUrl(url: string, baseDir: string, env: NodeJS.ProcessEnv): string {
  if (url.startsWith('local:')) return `local:${resolvePath(url.slice('local:'.length), baseDir, env)}`;
  // A scheme is letters then ":"; "./x:y" or "/x:y" are paths.
  if (/^[a-z][a-z0-9+.-]*:/i.test(url)) return url;
  return `local:${resolvePath(url, baseDir, env)}`;
}

/** The state directory: `state_dir` if set, else $XDG_STATE_HOME/lifeboat, else ~/.local/state/lifeboat. */
export function resolveStateDir(stateDir: string | undefined, baseDir: string, env: NodeJS.ProcessEnv): string {
  if (stateDir !== undefined) return resolvePath(stateDir, baseDir, env);
  const xdg = env.XDG_STATE_HOME;
  // The XDG spec says a relative value is invalid and must be ignored.
  if (xdg !== undefined && path.isAbsolute(xdg)) return path.join(xdg, 'lifeboat');
  return path.join(homeDir(env), '.local', 'state', 'lifeboat');
}

/**
 * Makes every `{ file: PATH }` secret reference in `value` absolute, walking `schema` alongside
 * so that only values in secret positions are touched. Mutates `value`.
 */
export function resolveSecretFiles(schema: z.ZodType, value: unknown, baseDir: string, env: NodeJS.ProcessEnv): void {
  if (value === null || typeof value !== 'object') return;
  if (isSecretRefSchema(schema)) {
    if (isSecretRefValue(value) && 'file' in value) value.file = resolvePath(value.file, baseDir, env);
    return;
  }
  const entries: Array<[string | number, unknown]> = Array.isArray(value) ? value.map((v, i) => [i, v]) : Object.entries(value);
  for (const [k, v] of entries) {
    const child = childSchema(schema, value, k);
    if (child) resolveSecretFiles(child, v, baseDir, env);
  }
}

/** Path keys every source has: the ssh transport's files, on this host. */
const COMMON_PATH_KEYS = ['ssh.identity_file', 'ssh.known_hosts'] as const;

/** The path keys of one source: the common ones and those its type declares. */
export function pathKeysOf(type: string, types: SourceTypes): readonly string[] {
  return [...COMMON_PATH_KEYS, ...(types.get(type)?.pathKeys ?? [])];
}

/** Makes the path keys of one source absolute. Mutates `source`. */
export function resolveSourcePaths(source: SourceConfig, keys: readonly string[], baseDir: string, env: NodeJS.ProcessEnv): void {
  for (const spec of keys) {
    const program = spec.startsWith('program:');
    const parts = (program ? spec.slice('program:'.length) : spec).split('.');
    const resolveOne = (x: string): string => (program && !x.includes('/') ? x : resolvePath(x, baseDir, env));
    let parent: Record<string, unknown> | undefined = source;
    for (const p of parts.slice(0, -1)) {
      const next: unknown = parent?.[p];
      parent = next !== null && typeof next === 'object' && !Array.isArray(next) ? next as Record<string, unknown> : undefined;
    }
    const last = parts[parts.length - 1];
    if (!parent) continue;
    const v = parent[last];
    if (typeof v === 'string') parent[last] = resolveOne(v);
    else if (Array.isArray(v)) parent[last] = v.map((x) => (typeof x === 'string' ? resolveOne(x) : x));
  }
}
