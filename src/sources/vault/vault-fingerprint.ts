/**
 * The fingerprint of a Vault / OpenBao cluster: what a restore must bring back, nothing that
 * legitimately changes. The raft index and term are left out: a restored cluster goes on from
 * its own log (the index of the snapshot is logged and kept in the manifest's commands instead).
 * Accessors and UUIDs of mounts are left out too (stable today, but not promised).
 *
 * - secret engines and auth methods: path → type (kv adds its version);
 * - ACL policies: name → SHA-256 of the policy text;
 * - canaries (optional KV v2 secrets): path → SHA-256 of their data, or null when absent.
 */
import { createHash } from 'node:crypto';
import type { Fingerprint } from '../../core/source.ts';
import { LifeboatError } from '../../core/errors.ts';
import type { VaultClient } from './vault-client.ts';

type MountTable = Record<string, { type?: string; options?: Record<string, string> | null }>;

function sha256(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

/** JSON with sorted keys, so equal data hashes equal whatever order the server lists it in. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

function mounts(table: MountTable): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of Object.keys(table).sort()) {
    const m = table[p];
    if (m === undefined || typeof m !== 'object' || typeof m.type !== 'string') continue;
    out[p] = m.type === 'kv' && m.options?.version ? `kv v${m.options.version}` : m.type;
  }
  return out;
}

export async function fingerprintVault(client: VaultClient, canaries: readonly string[] = []): Promise<Fingerprint> {
  // Newer servers put the table under data; older ones at the top level too.
  const secretTable = await client.json<{ data?: MountTable } & MountTable>('GET', '/v1/sys/mounts');
  const authTable = await client.json<{ data?: MountTable } & MountTable>('GET', '/v1/sys/auth');
  // GET ?list=true rather than the LIST verb: reverse proxies (and node's HTTP parser) refuse LIST.
  const names = (await client.json<{ data: { keys: string[] } }>('GET', '/v1/sys/policies/acl?list=true')).data.keys.slice().sort();
  const policies: Record<string, string> = {};
  for (const name of names) {
    const p = await client.json<{ data: { policy: string } }>('GET', `/v1/sys/policies/acl/${encodeURIComponent(name)}`);
    policies[name] = sha256(p.data.policy);
  }
  const kv: Record<string, string | null> = {};
  for (const c of [...canaries].sort()) {
    const slash = c.indexOf('/');
    const path = `/v1/${c.slice(0, slash)}/data/${c.slice(slash + 1).split('/').map(encodeURIComponent).join('/')}`;
    try {
      const r = await client.json<{ data: { data: unknown } }>('GET', path);
      kv[c] = sha256(canonical(r.data.data));
    } catch (err) {
      if (err instanceof LifeboatError && err.data.status === 404) kv[c] = null;
      else throw err;
    }
  }
  return {
    secret_engines: mounts(secretTable.data ?? secretTable),
    auth_methods: mounts(authTable.data ?? authTable),
    policies,
    ...(canaries.length > 0 ? { canaries: kv } : {}),
  };
}
