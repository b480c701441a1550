/**
 * The resolved plan of a loaded lifeboat.yml, for `lifeboat config check`: every source in
 * the order it runs, with what it inherited from `defaults`, and its own keys.
 *
 * Safe to print: a secret reference is shown as the reference (`{ env: NAME }`), never its
 * value (which is not even looked up here); a string under a key that names a secret
 * (password, secret, token, key, or ending in _password, _token, …) is shown as "***", and so
 * is the password of a URL with credentials (`redis://:pw@host`).
 */
import type { LoadedConfig } from './loader.ts';
import { isSecretRefValue } from './schema.ts';

export const MASK = '***';

const SENSITIVE_KEY = /(^|[_-])(password|passwd|secret|token|key)$/i;

/** Keys shown apart from a source's own keys. */
const COMMON_KEYS = new Set(['type', 'schedule', 'retention', 'rpo', 'rto', 'depends_on', 'backup', 'restore', 'tags']);

export interface SourceDescription {
  readonly name: string;
  readonly type: string;
  readonly schedule: string | null;
  readonly retention: Record<string, unknown> | null;
  readonly rpo: string | null;
  readonly rto: string | null;
  readonly depends_on: string[];
  readonly tags: string[];
  readonly hooks: {
    readonly backup: { before: string[]; after: string[] };
    readonly restore: { before: string[]; after: string[] };
  };
  /** Restore target other than the original, if set. */
  readonly restore_to: string | null;
  /** The type's own keys, secrets as references or masked. */
  readonly keys: Record<string, unknown>;
}

export interface ConfigDescription {
  readonly file: string;
  readonly state_dir: string;
  readonly concurrency: number;
  readonly repository: unknown;
  readonly copies: unknown[];
  readonly sources: SourceDescription[];
}

/** `scheme://user:password@host` → `scheme://user:***@host`. */
function maskUrlPassword(s: string): string {
  return s.replace(/^([a-z][a-z0-9+.-]*:(?:[a-z][a-z0-9+.-]*:)?\/\/[^/@:\s]*):[^/@\s]+@/i, `$1:${MASK}@`);
}

/** A copy of `v` that is safe to show. */
export function maskSecrets(v: unknown, sensitive = false): unknown {
  if (isSecretRefValue(v)) return { ...v };
  if (typeof v === 'string') return sensitive ? MASK : maskUrlPassword(v);
  if (Array.isArray(v)) return v.map((x) => maskSecrets(x, sensitive));
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, maskSecrets(x, sensitive || SENSITIVE_KEY.test(k))]));
  }
  return v;
}

const hookLists = (h: { before?: string[]; after?: string[] } | undefined): { before: string[]; after: string[] } =>
  ({ before: (h?.before ?? []).map(maskUrlPassword), after: (h?.after ?? []).map(maskUrlPassword) });

export function describeConfig(loaded: LoadedConfig): ConfigDescription {
  const { config } = loaded;
  return {
    file: loaded.file,
    state_dir: loaded.stateDir,
    concurrency: config.concurrency,
    repository: maskSecrets(config.repository),
    copies: (config.copies ?? []).map((c) => maskSecrets(c)),
    sources: loaded.sources.map(({ name, config: s }) => ({
      name,
      type: s.type,
      schedule: s.schedule ?? null,
      retention: s.retention ? { ...s.retention } : null,
      rpo: s.rpo ?? null,
      rto: s.rto ?? null,
      depends_on: [...(s.depends_on ?? [])],
      tags: [...(s.tags ?? [])],
      hooks: { backup: hookLists(s.backup?.hooks), restore: hookLists(s.restore?.hooks) },
      restore_to: s.restore?.to !== undefined ? maskUrlPassword(s.restore.to) : null,
      keys: maskSecrets(Object.fromEntries(Object.entries(s).filter(([k]) => !COMMON_KEYS.has(k)))) as Record<string, unknown>,
    })),
  };
}
