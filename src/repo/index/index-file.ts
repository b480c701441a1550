/**
 * Index files (restic design.rst, "Indexing"): which blobs live in which pack, at which
 * offset. Several index files may describe overlapping packs; `supersedes` names index
 * files a newer one replaces (written by prune before it deletes the old ones).
 */
import { IntegrityError } from '../../core/errors.ts';
import { isId } from '../../core/ids.ts';
import type { BlobType, PackedBlob } from '../pack/pack-format.ts';

export interface IndexPack {
  readonly id: string;
  readonly blobs: readonly PackedBlob[];
}

export interface IndexDoc {
  readonly supersedes?: readonly string[];
  readonly packs: readonly IndexPack[];
}

interface JsonBlob {
  id: string;
  type: BlobType;
  offset: number;
  length: number;
  uncompressed_length?: number;
}

export function indexToJSON(doc: IndexDoc): unknown {
  return {
    ...(doc.supersedes && doc.supersedes.length > 0 ? { supersedes: doc.supersedes } : {}),
    packs: doc.packs.map((p) => ({
      id: p.id,
      blobs: p.blobs.map((b): JsonBlob => {
        const j: JsonBlob = { id: b.id, type: b.type, offset: b.offset, length: b.length };
        if (b.uncompressedLength !== undefined) j.uncompressed_length = b.uncompressedLength;
        return j;
      }),
    })),
  };
}

/** A pack offset or blob length as restic writes them (packs are far below 4 GiB). */
function isU32(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 0xffffffff;
}

export function indexFromJSON(raw: unknown, what: string): IndexDoc {
  const bad = (why: string): never => {
    throw new IntegrityError(`${what}: ${why}`);
  };
  // restic v1 wrote an older format: a bare array of packs.
  const obj = Array.isArray(raw) ? { packs: raw } : (raw as { supersedes?: unknown; packs?: unknown });
  if (typeof obj !== 'object' || obj === null) bad('not an index document');
  const packs = obj.packs ?? [];
  if (!Array.isArray(packs)) bad('"packs" is not a list');
  const out: IndexPack[] = [];
  for (const p of packs as Array<{ id?: unknown; blobs?: unknown }>) {
    if (typeof p?.id !== 'string' || !isId(p.id)) bad('a pack has no valid id');
    const blobs: PackedBlob[] = [];
    for (const b of (p.blobs ?? []) as JsonBlob[]) {
      if (typeof b?.id !== 'string' || !isId(b.id) || (b.type !== 'data' && b.type !== 'tree')) bad(`pack ${p.id} lists a malformed blob`);
      if (!isU32(b.offset) || !isU32(b.length) || (b.uncompressed_length !== undefined && !isU32(b.uncompressed_length))) {
        bad(`pack ${p.id} lists blob ${b.id} with an invalid offset or length`);
      }
      blobs.push({ id: b.id, type: b.type, offset: b.offset, length: b.length, uncompressedLength: b.uncompressed_length });
    }
    out.push({ id: p.id as string, blobs });
  }
  const supersedes = Array.isArray(obj.supersedes) ? (obj.supersedes as string[]) : [];
  return { supersedes, packs: out };
}
