/**
 * An in-memory ArtifactSink/ArtifactReader pair for source adapter tests that do not need a
 * repository: artifacts are kept as buffers, file trees are copied to a temp dir. The real
 * implementation (over the repository) is src/app/artifact-store.ts.
 */
import { createHash } from 'node:crypto';
import { cp, mkdtemp, rm, stat, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ArtifactInfo, ArtifactReader, ArtifactSink, SourceContext } from '../../src/core/source.ts';

export interface MemoryArtifacts {
  sink: ArtifactSink;
  reader(): ArtifactReader;
  get(name: string): Buffer | undefined;
  /** Replaces an artifact's bytes (to simulate damage or truncation). */
  set(name: string, data: Buffer): void;
  cleanup(): Promise<void>;
}

async function countTree(dir: string): Promise<{ files: number; bytes: number }> {
  let files = 0;
  let bytes = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) {
      files++;
      bytes += (await stat(path.join(e.parentPath, e.name))).size;
    }
  }
  return { files, bytes };
}

export async function memoryArtifacts(): Promise<MemoryArtifacts> {
  const blobs = new Map<string, Buffer>();
  const treeDir = await mkdtemp(path.join(tmpdir(), 'lifeboat-artifacts-'));
  let hasTree = false;
  const info = (name: string, b: Buffer): ArtifactInfo => ({ name, size: b.length, sha256: createHash('sha256').update(b).digest('hex') });
  const sink: ArtifactSink = {
    async put(name, data) {
      const parts: Buffer[] = [];
      for await (const c of data) parts.push(Buffer.from(c));
      const b = Buffer.concat(parts);
      blobs.set(name, b);
      return info(name, b);
    },
    async putFiles(paths, opts) {
      hasTree = true;
      for (const p of paths) {
        const abs = path.resolve(p);
        await cp(opts?.readRoot === undefined ? abs : path.join(opts.readRoot, abs), path.join(treeDir, abs), {
          recursive: true,
          verbatimSymlinks: true,
          preserveTimestamps: true,
          filter: async (src) => !opts?.exclude?.(src, (await stat(src).catch(() => undefined))?.isDirectory() ?? false),
        });
      }
      return countTree(treeDir);
    },
  };
  return {
    sink,
    reader(): ArtifactReader {
      return {
        list: () => [...blobs].map(([n, b]) => info(n, b)),
        async *open(name) {
          const b = blobs.get(name);
          if (!b) throw new Error(`no artifact ${name}`);
          for (let i = 0; i < b.length; i += 64 * 1024) yield b.subarray(i, i + 64 * 1024);
        },
        async restoreFiles(targetDir) {
          if (!hasTree) throw new Error('no file tree stored');
          await cp(treeDir, targetDir, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true, force: true });
          return countTree(treeDir);
        },
      };
    },
    get: (name) => blobs.get(name),
    set: (name, data) => void blobs.set(name, data),
    cleanup: () => rm(treeDir, { recursive: true, force: true }),
  };
}

/** A SourceContext for tests: logs collected in arrays. */
export function testContext(signal: AbortSignal = new AbortController().signal): SourceContext & { infos: string[]; warnings: string[] } {
  const infos: string[] = [];
  const warnings: string[] = [];
  return { signal, log: { info: (m) => void infos.push(m), warn: (m) => void warnings.push(m) }, infos, warnings };
}
