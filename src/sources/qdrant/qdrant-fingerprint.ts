/**
 * Fingerprint of a Qdrant server: per collection the exact point count and the vector
 * configuration (dense vector sizes and distances, sparse vectors), keyed by the collection's
 * own name, so a restore under a drill's name prefix compares equal with the original.
 * Statuses, segment counts and indexed-vector counts are left out: they follow optimizer runs,
 * not the data.
 */
import type { QdrantClient } from './qdrant-client.ts';

export interface QdrantCollectionFingerprint {
  readonly points: number;
  readonly vectors: unknown;
  readonly sparse_vectors: unknown;
}

export interface QdrantFingerprint {
  /** null for a configured collection that does not exist. */
  readonly collections: Readonly<Record<string, QdrantCollectionFingerprint | null>>;
}

/** `names` are the collections' own names; each is read on the server as `prefix + name`. */
export async function fingerprintQdrant(client: QdrantClient, names: readonly string[], prefix = ''): Promise<QdrantFingerprint> {
  const existing = new Set(await client.listCollections());
  const collections: Record<string, QdrantCollectionFingerprint | null> = {};
  for (const name of [...names].sort()) {
    const actual = prefix + name;
    if (!existing.has(actual)) {
      collections[name] = null;
      continue;
    }
    const info = await client.collection(actual);
    collections[name] = {
      points: await client.countPoints(actual),
      vectors: info.config.params.vectors ?? null,
      sparse_vectors: info.config.params.sparse_vectors ?? null,
    };
  }
  return { collections };
}
