/**
 * Checks of a `files` source beyond the tree hash: whether a copy is consistent (no entry
 * changed while it was read) and whether index files parse in their format (`format: faiss`).
 *
 * A copy is consistent when lstat of every entry (size, mtime and ctime in ns, inode) is the
 * same before and after it: FAISS rewrites an index in place, and any write moves ctime, so
 * an unchanged stat means the copy holds what the file held throughout. That also lets the
 * backup parse the live file as a stand-in for the copy it just made.
 */
import { open, lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import { checkFaissIndex, FAISS_HEAD_BYTES, type FaissIndexInfo } from './faiss-index.ts';

/** files-source.ts's filter: true when an entry is left out (declared here too, against an import cycle). */
type ExcludeFilter = (absPath: string, isDir: boolean) => boolean;

export const DEFAULT_INDEX_FILES: readonly string[] = ['*.faiss', '*.index'];

async function walkFiles(orig: string, actual: string, excluded: ExcludeFilter, visit: (orig: string, actual: string, st: import('node:fs').BigIntStats) => void): Promise<void> {
  let st;
  try {
    st = await lstat(actual, { bigint: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (excluded(orig, st.isDirectory())) return;
  visit(orig, actual, st);
  if (st.isDirectory()) {
    for (const name of (await readdir(actual)).sort()) await walkFiles(path.join(orig, name), path.join(actual, name), excluded, visit);
  }
}

/** "size:mtime:ctime:ino" of every entry below the roots, by configured path. */
export async function statTree(roots: readonly string[], excluded: ExcludeFilter): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const root of roots) {
    await walkFiles(root, root, excluded, (orig, _a, st) => void out.set(orig, `${st.size}:${st.mtimeNs}:${st.ctimeNs}:${st.ino}`));
  }
  return out;
}

/** The first path that differs between two stat trees (added, removed or changed). */
export function firstChange(before: ReadonlyMap<string, string>, after: ReadonlyMap<string, string>): string | undefined {
  for (const [p, s] of after) if (before.get(p) !== s) return p;
  for (const p of before.keys()) if (!after.has(p)) return p;
  return undefined;
}

export type IndexCheck = { readonly path: string } & ({ readonly info: FaissIndexInfo } | { readonly problem: string });

/**
 * Every regular file below the roots whose name matches `globs`, checked as a FAISS index;
 * read at `locate(path)`, reported by configured path.
 */
export async function checkIndexFiles(roots: readonly string[], locate: (p: string) => string, excluded: ExcludeFilter, globs: readonly string[]): Promise<IndexCheck[]> {
  const found: Array<[string, string, number]> = [];
  for (const root of roots) {
    await walkFiles(root, locate(root), excluded, (orig, actual, st) => {
      if (st.isFile() && globs.some((g) => path.matchesGlob(path.basename(orig), g) || path.matchesGlob(orig, g))) found.push([orig, actual, Number(st.size)]);
    });
  }
  const out: IndexCheck[] = [];
  for (const [orig, actual, size] of found) {
    const fh = await open(actual, 'r');
    try {
      const head = Buffer.alloc(Math.min(FAISS_HEAD_BYTES, size));
      await fh.read(head, 0, head.length, 0);
      const r = checkFaissIndex(head, size);
      out.push(typeof r === 'string' ? { path: orig, problem: r } : { path: orig, info: r });
    } finally {
      await fh.close();
    }
  }
  return out;
}

/** The fingerprint part of the index files: fourcc, d and ntotal each, or why it does not parse. */
export function indexFingerprint(checks: readonly IndexCheck[]): Record<string, { fourcc: string; d: number; ntotal: number } | string> {
  return Object.fromEntries(checks.map((c) => [c.path, 'info' in c ? { fourcc: c.info.fourcc, d: c.info.d, ntotal: c.info.ntotal } : `not a whole FAISS index: ${c.problem}`]));
}
