/**
 * Generated directory trees for engine tests: the awkward cases a backup tool must get
 * right (empty and large files, odd names, symlinks, hard links, modes, nested dirs), and a
 * comparison of two trees by content and metadata.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmod, link, lstat, mkdir, readdir, readFile, readlink, symlink, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** Deterministic pseudo-random bytes (xorshift), so corpora are reproducible. */
export function pseudoRandom(size: number, seed = 1): Buffer {
  const buf = Buffer.allocUnsafe(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i += 4) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    if (i + 4 <= size) buf.writeUInt32LE(x, i);
    else for (let j = i; j < size; j++) buf[j] = (x >>> ((j - i) * 8)) & 0xff;
  }
  return buf;
}

export async function makeCorpus(root: string, opts: { bigSize?: number } = {}): Promise<void> {
  await mkdir(path.join(root, 'nested', 'deeper', 'deepest'), { recursive: true });
  await mkdir(path.join(root, 'empty-dir'), { recursive: true });
  await writeFile(path.join(root, 'empty.txt'), '');
  await writeFile(path.join(root, 'small.txt'), 'hello lifeboat\n');
  await writeFile(path.join(root, 'big.bin'), pseudoRandom(opts.bigSize ?? 5 * 1024 * 1024, 7));
  // A text file large enough to be split into several chunks and compress well.
  const lines: string[] = [];
  for (let i = 0; i < 120000; i++) lines.push(`INSERT INTO t VALUES (${i}, 'row ${i % 113}');`);
  await writeFile(path.join(root, 'nested', 'dump.sql'), lines.join('\n'));
  await writeFile(path.join(root, 'nested', 'deeper', 'deepest', 'leaf'), randomBytes(1000));
  for (const odd of ['with space.txt', 'ünïcødé-名前.txt', 'new\nline', 'quote"and\\slash', '-dash', '.hidden']) {
    await writeFile(path.join(root, odd), `content of ${odd}\n`);
  }
  await symlink('small.txt', path.join(root, 'link-to-small'));
  await symlink('/nonexistent/target', path.join(root, 'dangling-link'));
  await writeFile(path.join(root, 'hard-a'), 'hard linked content\n');
  await link(path.join(root, 'hard-a'), path.join(root, 'hard-b'));
  await writeFile(path.join(root, 'script.sh'), '#!/bin/sh\necho hi\n');
  await chmod(path.join(root, 'script.sh'), 0o755);
  await writeFile(path.join(root, 'secret'), 'x');
  await chmod(path.join(root, 'secret'), 0o600);
  await utimes(path.join(root, 'small.txt'), new Date('2020-01-02T03:04:05Z'), new Date('2021-02-03T04:05:06Z'));
}

export interface EntryInfo {
  type: string;
  mode: number;
  size?: number;
  sha256?: string;
  target?: string;
  mtimeMs?: number;
}

/** rel path → what a restore must reproduce (type, permission bits, content hash, link target, file mtime). */
export async function describeTree(root: string): Promise<Map<string, EntryInfo>> {
  const out = new Map<string, EntryInfo>();
  const walk = async (dir: string): Promise<void> => {
    for (const name of (await readdir(dir)).sort()) {
      const p = path.join(dir, name);
      const rel = path.relative(root, p);
      const st = await lstat(p);
      if (st.isDirectory()) {
        out.set(rel, { type: 'dir', mode: st.mode & 0o7777 });
        await walk(p);
      } else if (st.isSymbolicLink()) {
        out.set(rel, { type: 'symlink', mode: 0, target: await readlink(p) });
      } else {
        const data = await readFile(p);
        out.set(rel, { type: 'file', mode: st.mode & 0o7777, size: st.size, sha256: createHash('sha256').update(data).digest('hex'), mtimeMs: Math.floor(st.mtimeMs) });
      }
    }
  };
  await walk(root);
  return out;
}
