/**
 * Test support for prune: a backup history of evolving generated content, and a checker
 * that every snapshot still yields exactly the bytes it was made from. Takes any Storage,
 * so it stays inside the repo layer; the tests choose local or faulty storage.
 *
 * The content is random (incompressible) so pack sizes are predictable: many small files
 * (one blob each, several blobs per pack) and a few larger ones (several chunks), with files
 * changed, added and removed between generations so forgetting some snapshots leaves packs
 * fully unused, partly used and fully used.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { Archiver } from '../archiver/archiver.ts';
import type { Repository } from '../repository.ts';
import type { Snapshot } from '../snapshot/snapshot.ts';
import { TreeStore } from '../tree/tree-io.ts';

export const FIXTURE_PASSWORD = 'prune fixture password';
/** Small packs, so a few MiB of content make many of them. */
export const FIXTURE_PACK_SIZE = 256 * 1024;

/** Deterministic random-looking bytes for (file, version): AES-256-CTR keystream. */
export function fileBytes(file: number, version: number, size: number): Buffer {
  const key = createHash('sha256').update(`prune fixture ${file}/${version}`).digest();
  return createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(size));
}

export interface FileSpec {
  path: string;
  file: number;
  version: number;
  size: number;
}

/** The files of generation g: 40 small files and 3 larger ones, evolving with g. */
export function generation(g: number): FileSpec[] {
  const files: FileSpec[] = [];
  for (let f = 0; f < 40; f++) {
    // Files drop out and come back: f is absent in generation g when (f + g) % 9 === 0.
    if ((f + g) % 9 === 0) continue;
    // About a third of the files change in each generation.
    const version = f % 3 === g % 3 ? g : Math.floor(g / 3);
    files.push({ path: `small/f${String(f).padStart(2, '0')}.bin`, file: f, version, size: 3_000 + ((f * 7919) % 50_000) });
  }
  // Larger files: one never changes, one changes every generation, one grows.
  files.push({ path: 'big/stable.bin', file: 100, version: 0, size: 1_300_000 });
  files.push({ path: 'big/changing.bin', file: 101, version: g, size: 1_100_000 });
  files.push({ path: 'big/growing.bin', file: 102, version: 0, size: 600_000 + g * 300_000 });
  return files;
}

async function* once(buf: Buffer): AsyncGenerator<Buffer> {
  yield buf;
}

export interface MadeSnapshot {
  id: string;
  /** path → SHA-256 of the content */
  files: Map<string, string>;
}

/** Makes one snapshot of generation g at a fixed time (g days after 2025-01-01). */
export async function backupGeneration(repo: Repository, g: number): Promise<MadeSnapshot> {
  const arch = new Archiver(repo);
  const specs = generation(g);
  const time = new Date(Date.UTC(2025, 0, 1 + g, 12));
  const files = new Map<string, string>();
  const virtual = [];
  for (const s of specs) {
    const bytes = fileBytes(s.file, s.version, s.size);
    const r = await arch.saveContent(once(bytes), s.path);
    files.set(s.path, r.sha256);
    virtual.push({ path: s.path, content: r.content, size: r.size, mtime: time });
  }
  const tree = await arch.saveVirtualTree(virtual, time);
  const id = await arch.finish(tree, ['/fixture'], { hostname: 'fixture', time });
  return { id, files };
}

/** Reads every file of a snapshot through the index (each blob verified) and hashes it. */
export async function snapshotDigests(repo: Repository, snap: Snapshot): Promise<Map<string, string>> {
  const trees = new TreeStore(repo);
  const out = new Map<string, string>();
  const walk = async (treeId: string, prefix: string): Promise<void> => {
    for (const n of (await trees.load(treeId)).nodes) {
      const p = prefix === '' ? n.name : `${prefix}/${n.name}`;
      if (n.type === 'dir' && n.subtree) await walk(n.subtree, p);
      else if (n.type === 'file') {
        const h = createHash('sha256');
        for (const id of n.content ?? []) h.update(await repo.loadBlob('data', id));
        out.set(p, h.digest('hex'));
      }
    }
  };
  await walk(snap.tree, '');
  return out;
}

/** Sum of the sizes of all pack files. */
export async function packBytes(repo: Repository): Promise<number> {
  let n = 0;
  for await (const f of repo.storage.list('data')) n += f.size;
  return n;
}
