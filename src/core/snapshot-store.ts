/**
 * The stack snapshot port: how use cases (ops/) see a repository of stack snapshots, one
 * snapshot per source run. The format behind it (tags, tree of artifacts, manifest.json) is
 * owned by repo/stack/ and written down in docs/design.md ("Stack snapshots"); nothing above
 * this port spells a tag or a path.
 *
 * Contract every implementation keeps:
 * - `list` returns the stack snapshots of the store, oldest first; a snapshot that cannot be
 *   read is skipped (reported through `onError`), never fatal to the listing.
 * - A writer's snapshot exists only once `commit` resolved, after every artifact was stored:
 *   a failed source leaves no snapshot that looks complete.
 * - A reader checks every artifact's size and SHA-256 against the manifest as it is read.
 */
import type { ArtifactInfo, ArtifactReader, ArtifactSink, BackupOutcome, Fingerprint } from './source.ts';

/** One stack snapshot as use cases see it. */
export interface StackSnapshot {
  readonly id: string;
  /** The source it holds. */
  readonly source: string;
  readonly date: Date;
  /** `date` as recorded (RFC 3339 with the writer's offset; retention buckets by it). */
  readonly time: string;
  readonly hostname?: string;
  /** Every tag as stored (the format's own and the user's); use cases never spell the format's. */
  readonly tags: readonly string[];
  /** A safety snapshot a restore took of the live data it replaced (never "latest"). */
  readonly isSafety: boolean;
}

/** The manifest of a stack snapshot (docs/design.md, "Stack snapshots"). */
export interface StackManifest {
  /** Format version of the manifest; 1 when absent (lifeboat 0.1 wrote none). */
  readonly version: number;
  readonly lifeboat_version: string;
  readonly source: { readonly name: string; readonly type: string };
  readonly server_version?: string;
  readonly commands: readonly string[];
  readonly artifacts: readonly ArtifactInfo[];
  readonly files?: { readonly paths: readonly string[]; readonly count: number; readonly bytes: number };
  readonly started_at: string;
  readonly finished_at: string;
  readonly duration_ms: number;
  readonly fingerprint: Fingerprint;
}

export interface CommitMeta {
  readonly hostname?: string;
  /** Tags besides the format's own. */
  readonly tags?: readonly string[];
  readonly time?: Date;
  /** Mark the snapshot as a restore's safety snapshot. */
  readonly isSafety?: boolean;
}

export interface CommitResult {
  readonly snapshotId: string;
  readonly bytesRead: number;
  readonly bytesAdded: number;
}

/** Receives one source's artifacts; `commit` writes the manifest and the snapshot. */
export interface StackSnapshotWriter extends ArtifactSink {
  commit(outcome: BackupOutcome, meta?: CommitMeta): Promise<CommitResult>;
}

/** Reads one stack snapshot back. */
export interface StackSnapshotReader extends ArtifactReader {
  readonly manifest: StackManifest;
}

export interface CopyOutcome {
  /** The target as storage names it, without credentials. */
  readonly repository: string;
  readonly copied: number;
  readonly skipped: number;
  readonly blobsCopied?: number;
  readonly bytesCopied?: number;
}

export interface SnapshotStore {
  /** Where the store lives, without credentials (for reports and messages). */
  readonly location: string;
  list(opts?: { signal?: AbortSignal; onError?: (id: string, err: unknown) => void }): Promise<StackSnapshot[]>;
  openWriter(
    source: { readonly name: string; readonly type: string },
    opts?: { signal?: AbortSignal; onProgress?: (bytesRead: number, bytesAdded: number) => void },
  ): StackSnapshotWriter;
  openReader(snapshot: StackSnapshot, opts?: { signal?: AbortSignal }): Promise<StackSnapshotReader>;
  /** Removes snapshots (not their data: prune frees that). */
  forget(ids: readonly string[], opts?: { signal?: AbortSignal }): Promise<void>;
}
