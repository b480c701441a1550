/**
 * The fingerprint of n8n's exports (pure: no CLI). Per workflow its id → SHA-256 of what it
 * does (name, nodes, connections, settings), per credential its id → SHA-256 of name, type and
 * the encrypted data. `active`, `updatedAt` and `versionId` are left out: an import deactivates
 * every workflow and stamps new times, which says nothing about the data.
 */
import { createHash } from 'node:crypto';

export interface N8nFingerprint {
  readonly workflows: Readonly<Record<string, string>>;
  readonly credentials: Readonly<Record<string, string>>;
}

/** JSON with object keys sorted at every level, so equal data hashes equal. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

const hash = (v: unknown): string => createHash('sha256').update(canonical(v)).digest('hex');

export interface N8nWorkflow {
  readonly id: string;
  readonly name?: string;
  readonly active?: boolean;
  readonly nodes?: unknown;
  readonly connections?: unknown;
  readonly settings?: unknown;
}

export interface N8nCredential {
  readonly id: string;
  readonly name?: string;
  readonly type?: string;
  readonly data?: unknown;
}

export function fingerprintN8n(workflows: readonly N8nWorkflow[], credentials: readonly N8nCredential[]): N8nFingerprint {
  const byId = <T extends { id: string }>(xs: readonly T[], f: (x: T) => unknown): Record<string, string> =>
    Object.fromEntries([...xs].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).map((x) => [String(x.id), hash(f(x))]));
  return {
    workflows: byId(workflows, (w) => ({ name: w.name, nodes: w.nodes ?? [], connections: w.connections ?? {}, settings: w.settings ?? {} })),
    credentials: byId(credentials, (c) => ({ name: c.name, type: c.type, data: c.data })),
  };
}

/** What is wrong with an export's parsed JSON, or undefined ("credentials.json" for messages). */
export function exportProblem(kind: 'workflows' | 'credentials', parsed: unknown): string | undefined {
  if (!Array.isArray(parsed)) return `is not a JSON array of ${kind}`;
  for (const [i, x] of parsed.entries()) {
    const o = x as Record<string, unknown> | null;
    if (o === null || typeof o !== 'object' || (typeof o.id !== 'string' && typeof o.id !== 'number')) return `entry ${i} has no id`;
    if (kind === 'workflows' && (!Array.isArray(o.nodes) || typeof o.connections !== 'object')) return `workflow ${String(o.id)} has no nodes or connections`;
    if (kind === 'credentials' && typeof o.data !== 'string') return `credential ${String(o.id)} is not encrypted (exported with --decrypted?): its secrets would sit in the backup in clear`;
  }
  return undefined;
}
