/**
 * Fingerprint of an OpenSearch / Elasticsearch cluster's indices: per index the `_count` (not
 * `_cat/indices` docs.count, which includes hidden nested documents) and the sha256 of its
 * mappings in canonical JSON. The indices are refreshed first, so documents indexed but not yet
 * searchable (which a snapshot does contain) are counted too.
 */
import { createHash } from 'node:crypto';
import type { OpenSearchClient } from './opensearch-client.ts';

export interface OpenSearchFingerprint {
  readonly indices: Readonly<Record<string, { readonly count: number; readonly mappings: string }>>;
}

/** JSON with object keys sorted at every level, so equal mappings hash equal. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value);
}

export const indexPath = (names: readonly string[]): string => names.map(encodeURIComponent).join(',');

/**
 * The open, non-hidden indices matching `patterns`, with their mappings. Closed indices cannot
 * be counted and hidden ones are the cluster's own, so neither is backed up unless named exactly.
 */
export async function resolveIndices(client: OpenSearchClient, patterns: readonly string[], signal: AbortSignal): Promise<Map<string, unknown>> {
  const json = await client.request<Record<string, { mappings?: unknown }>>(
    'GET', `/${indexPath(patterns)}/_mapping?expand_wildcards=open&allow_no_indices=true&ignore_unavailable=true`, { signal },
  );
  return new Map(Object.entries(json ?? {}).sort(([a], [b]) => (a < b ? -1 : 1)).map(([name, v]) => [name, v.mappings ?? {}]));
}

/** Fingerprints the given indices; `strip` removes a drill's name prefix so names compare. */
export async function fingerprintIndices(
  client: OpenSearchClient, mappings: ReadonlyMap<string, unknown>, signal: AbortSignal, strip = '',
): Promise<OpenSearchFingerprint> {
  const names = [...mappings.keys()];
  if (names.length > 0) await client.request('POST', `/${indexPath(names)}/_refresh`, { signal, long: true });
  const indices: Record<string, { count: number; mappings: string }> = {};
  for (const name of names) {
    const r = await client.request<{ count: number }>('GET', `/${encodeURIComponent(name)}/_count`, { signal });
    const key = strip !== '' && name.startsWith(strip) ? name.slice(strip.length) : name;
    indices[key] = {
      count: Number(r?.count),
      mappings: createHash('sha256').update(canonicalJson(mappings.get(name))).digest('hex'),
    };
  }
  return { indices };
}
