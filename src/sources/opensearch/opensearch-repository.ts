/**
 * The files of an fs snapshot repository, as artifacts: out of the directory the cluster wrote
 * (one artifact per file under `repository/`, streamed), back into a fresh directory for a
 * restore, and checked offline against the repository's own catalogue.
 *
 * Layout (the same in OpenSearch and Elasticsearch): `index.latest` holds the current generation
 * N as an 8-byte big-endian number; `index-N` is JSON listing the snapshots and, per index, its
 * id and one shard generation per shard; `snap-<uuid>.dat` and `meta-<uuid>.dat` sit at the top;
 * each shard's files sit in `indices/<index id>/<shard>/` with its own `index-<generation>`.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { chown, mkdir, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { ArtifactReader, ArtifactSink } from '../../core/source.ts';

export const REPOSITORY_PREFIX = 'repository/';
export const MANIFEST_ARTIFACT = 'opensearch.json';

/** What a backup records beside the repository files (a small JSON artifact). */
export interface OpenSearchBackupInfo {
  readonly snapshot: string;
  readonly indices: readonly string[];
  readonly include_global_state: boolean;
  readonly version: string;
}

/** Every regular file below `dir`, relative, sorted; symlinks are refused (a repository has none). */
async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    const rel = path.relative(dir, path.join(e.parentPath, e.name));
    if (e.isFile()) out.push(rel.split(path.sep).join('/'));
    else if (!e.isDirectory()) throw new Error(`${rel} in the snapshot repository is not a regular file`);
  }
  return out.sort();
}

/** Streams each file of the repository directory into the sink; resolves with the count and bytes. */
export async function putRepository(dir: string, sink: ArtifactSink, signal: AbortSignal): Promise<{ files: number; bytes: number }> {
  let bytes = 0;
  const files = await listFiles(dir);
  for (const rel of files) {
    const info = await sink.put(`${REPOSITORY_PREFIX}${rel}`, createReadStream(path.join(dir, rel), { signal }));
    bytes += info.size;
  }
  return { files: files.length, bytes };
}

/**
 * Writes the `repository/` artifacts into `dir` (created empty, 0755, files 0644 so the cluster's
 * user can read them). As root the tree is handed to `owner` (the snapshot dir's owner).
 */
export async function writeRepository(
  reader: ArtifactReader, dir: string, signal: AbortSignal, owner?: { uid: number; gid: number },
): Promise<number> {
  await mkdir(dir, { mode: 0o755 });
  const own = async (p: string): Promise<void> => {
    if (owner !== undefined && process.getuid?.() === 0) await chown(p, owner.uid, owner.gid);
  };
  await own(dir);
  const made = new Set<string>([dir]);
  let n = 0;
  for (const a of reader.list()) {
    if (!a.name.startsWith(REPOSITORY_PREFIX)) continue;
    const target = path.join(dir, ...a.name.slice(REPOSITORY_PREFIX.length).split('/'));
    if (!target.startsWith(dir + path.sep)) throw new Error(`artifact ${a.name} points outside the repository`);
    for (let d = path.dirname(target); !made.has(d); d = path.dirname(d)) {
      await mkdir(d, { recursive: true, mode: 0o755 });
      made.add(d);
      await own(d);
    }
    await pipeline(reader.open(a.name), createWriteStream(target, { flags: 'wx', mode: 0o644, flush: true }), { signal });
    await own(target);
    n++;
  }
  return n;
}

/** The owner of an existing directory, to hand restored files to the cluster's user. */
export async function ownerOf(dir: string): Promise<{ uid: number; gid: number }> {
  const s = await stat(dir);
  return { uid: s.uid, gid: s.gid };
}

interface RepositoryData {
  snapshots?: Array<{ name?: string; uuid?: string }>;
  indices?: Record<string, { id?: string; shard_generations?: Array<string | null> }>;
}

/**
 * Checks, from artifact names and the catalogue bytes alone, that the stored repository holds
 * everything its catalogue names: the snapshot's files and every shard's generation file.
 * Returns the checks made and the problems found, one line each.
 */
export function checkRepositoryLayout(
  names: ReadonlySet<string>, latest: Buffer | undefined, catalogue: (generation: bigint) => Buffer | undefined, expected: OpenSearchBackupInfo,
): { checks: string[]; problems: string[] } {
  const p = REPOSITORY_PREFIX;
  if (latest?.length !== 8) return { checks: [], problems: [`${p}index.latest: missing or not 8 bytes`] };
  const generation = latest.readBigInt64BE(0);
  const raw = catalogue(generation);
  if (raw === undefined) return { checks: [], problems: [`${p}index-${generation}: missing (index.latest names generation ${generation})`] };
  let data: RepositoryData;
  try {
    data = JSON.parse(raw.toString('utf8')) as RepositoryData;
  } catch {
    return { checks: [], problems: [`${p}index-${generation}: not the JSON catalogue of a snapshot repository`] };
  }
  const problems: string[] = [];
  const snap = data.snapshots?.find((s) => s.name === expected.snapshot);
  if (snap?.uuid === undefined) return { checks: [], problems: [`${p}index-${generation}: does not list snapshot ${expected.snapshot}`] };
  for (const f of [`snap-${snap.uuid}.dat`, `meta-${snap.uuid}.dat`]) if (!names.has(p + f)) problems.push(`${p}${f}: missing`);
  let shards = 0;
  for (const index of expected.indices) {
    const entry = data.indices?.[index];
    if (entry?.id === undefined) {
      problems.push(`${p}index-${generation}: does not list index ${index}`);
      continue;
    }
    (entry.shard_generations ?? []).forEach((gen, shard) => {
      shards++;
      const f = `${p}indices/${entry.id}/${shard}/index-${gen}`;
      if (gen !== null && !names.has(f)) problems.push(`${f}: missing (shard ${shard} of index ${index})`);
    });
  }
  const checks = problems.length === 0
    ? [`snapshot ${expected.snapshot}: catalogue index-${generation} lists ${expected.indices.length} indices, ${shards} shards, every file it names is stored (${names.size} files)`]
    : [];
  return { checks, problems };
}
