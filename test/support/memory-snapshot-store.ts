/**
 * An in-memory SnapshotStore (core/snapshot-store.ts) for unit tests of ops/ use cases: keeps
 * artifacts as bytes and snapshots in a list, checks nothing a repository would check beyond
 * the port's contract (a snapshot exists only after commit; artifacts verified on read).
 */
import { createHash } from 'node:crypto';
import { IntegrityError, NotFoundError } from '../../src/core/errors.ts';
import type { SnapshotStore, StackManifest, StackSnapshot, StackSnapshotReader, StackSnapshotWriter } from '../../src/core/snapshot-store.ts';
import type { ArtifactInfo } from '../../src/core/source.ts';

interface Stored {
  snap: StackSnapshot;
  manifest: StackManifest;
  artifacts: Map<string, Buffer>;
}

export interface MemorySnapshotStore extends SnapshotStore {
  /** Adds a snapshot directly (for tests of choice and retention). */
  add(s: Partial<StackSnapshot> & { id: string; source: string; date: Date }, artifacts?: Record<string, string>, fingerprint?: Record<string, unknown>): StackSnapshot;
  readonly snapshots: readonly StackSnapshot[];
  /** Changes an artifact's stored bytes behind its manifest's back (a damaged backup). */
  corrupt(id: string, artifact: string): void;
}

export function createMemorySnapshotStore(location = 'memory:'): MemorySnapshotStore {
  const stored: Stored[] = [];
  let seq = 0;
  const manifestOf = (source: string, artifacts: Map<string, Buffer>, fingerprint: Record<string, unknown>): StackManifest => ({
    version: 1, lifeboat_version: 'test', source: { name: source, type: 'fake' }, commands: [],
    artifacts: [...artifacts].map(([name, b]) => ({ name, size: b.length, sha256: createHash('sha256').update(b).digest('hex') })),
    started_at: '', finished_at: '', duration_ms: 0, fingerprint,
  });
  const store: MemorySnapshotStore = {
    location,
    get snapshots() {
      return stored.map((s) => s.snap);
    },
    add(s, artifacts = {}, fingerprint = {}) {
      const snap: StackSnapshot = { time: s.date.toISOString(), tags: [], isSafety: false, ...s };
      const bytes = new Map(Object.entries(artifacts).map(([k, v]) => [k, Buffer.from(v)]));
      stored.push({ snap, manifest: manifestOf(s.source, bytes, fingerprint), artifacts: bytes });
      stored.sort((a, b) => a.snap.date.getTime() - b.snap.date.getTime());
      return snap;
    },
    corrupt(id, artifact) {
      const b = stored.find((x) => x.snap.id === id)?.artifacts.get(artifact);
      if (!b || b.length === 0) throw new Error(`no artifact ${artifact} in ${id}`);
      b[0] = (b[0] as number) ^ 0xff;
    },
    async list() {
      return stored.map((s) => s.snap);
    },
    openWriter(source): StackSnapshotWriter {
      const artifacts = new Map<string, Buffer>();
      return {
        async put(name, data): Promise<ArtifactInfo> {
          const parts: Buffer[] = [];
          for await (const c of data) parts.push(Buffer.from(c));
          const b = Buffer.concat(parts);
          artifacts.set(name, b);
          return { name, size: b.length, sha256: createHash('sha256').update(b).digest('hex') };
        },
        async putFiles() {
          throw new Error('the memory store keeps no file trees');
        },
        async commit(outcome, meta = {}) {
          const id = (++seq).toString(16).padStart(64, '0');
          const date = meta.time ?? new Date(seq * 1000);
          store.add({ id, source: source.name, date, hostname: meta.hostname, tags: meta.tags ?? [], isSafety: meta.isSafety ?? false }, {}, {});
          const s = stored.find((x) => x.snap.id === id) as Stored;
          s.artifacts = artifacts;
          s.manifest = manifestOf(source.name, artifacts, outcome.fingerprint as Record<string, unknown>);
          return { snapshotId: id, bytesRead: 0, bytesAdded: 0 };
        },
      };
    },
    async openReader(snapshot): Promise<StackSnapshotReader> {
      const s = stored.find((x) => x.snap.id === snapshot.id);
      if (!s) throw new NotFoundError(`no snapshot ${snapshot.id}`);
      return {
        manifest: s.manifest,
        list: () => s.manifest.artifacts,
        async *open(name) {
          const b = s.artifacts.get(name);
          if (!b) throw new NotFoundError(`artifact ${name} is not in snapshot ${snapshot.id}`);
          const info = s.manifest.artifacts.find((a) => a.name === name);
          if (createHash('sha256').update(b).digest('hex') !== info?.sha256) throw new IntegrityError(`artifact ${name} does not match its manifest`);
          yield Buffer.from(b); // the consumer's own copy, as the port promises
        },
        async restoreFiles() {
          throw new NotFoundError(`snapshot ${snapshot.id} holds no file tree`);
        },
      };
    },
    async forget(ids) {
      for (const id of ids) {
        const i = stored.findIndex((s) => s.snap.id === id);
        if (i >= 0) stored.splice(i, 1);
      }
    },
  };
  return store;
}
