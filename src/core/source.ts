/**
 * Sources: the data stores lifeboat backs up (PostgreSQL, MySQL/MariaDB, Redis, SQLite, files,
 * any command). A source knows how to dump its store as artifacts, how to load them back, and
 * how to fingerprint the live data; it knows nothing of repositories, packs or storage.
 *
 * Contract every adapter keeps (test/suites/source-suite.ts checks it):
 * - `backup` hands each artifact to the sink as a stream, one after the other, and resolves
 *   with the fingerprint of the data it dumped. A dump that fails, is killed or is truncated
 *   must make `backup` reject with a SourceError; the run then writes no snapshot.
 * - Artifact names are relative paths without "..": "app.dump", "globals.sql".
 * - `restore` reads the artifacts it needs from the reader and loads them into the store (or
 *   into `opts.to`, an adapter-specific alternative target such as another database name or
 *   directory). It never runs before the plan was confirmed.
 * - `fingerprint` describes the live data the same way `backup` did, so that after a restore
 *   `compareFingerprints(backupFp, restoredFp)` is empty.
 * - Secrets (passwords, tokens) go to child processes through env or files, never argv, and
 *   never into logs, errors, commands or manifests.
 */

/** A JSON description of the data: row counts, key counts, file hashes… Compared by value. */
export type Fingerprint = { readonly [key: string]: unknown };

export interface ArtifactInfo {
  readonly name: string;
  readonly size: number;
  readonly sha256: string;
}

export interface ArtifactSink {
  /** Stores one artifact from a stream; resolves when the stream has been fully consumed. */
  put(name: string, data: AsyncIterable<Uint8Array>): Promise<ArtifactInfo>;
  /**
   * Stores directories and files as a normal file tree (for the `files` source) under the
   * snapshot's tree; `exclude` gets the absolute paths read. With `readRoot` (a container's
   * filesystem as this host sees it, /proc/PID/root) the paths are read below it and stored
   * as given.
   */
  putFiles(paths: readonly string[], opts?: { exclude?: (absPath: string, isDir: boolean) => boolean; readRoot?: string }): Promise<{ files: number; bytes: number }>;
  /**
   * The latest earlier snapshot of this source (same name and type), for a source that can
   * tell unchanged data from its own index (the s3 source); undefined when there is none.
   * Sinks without a repository behind them may leave this out.
   */
  parent?(): Promise<ArtifactReader | undefined>;
  /**
   * Stores artifact `name` with the content of the parent's artifact `from`, without reading
   * it: the new snapshot references the same blobs. Rejects when the parent lacks `from`.
   */
  reuse?(name: string, from: string): Promise<ArtifactInfo>;
}

export interface ArtifactReader {
  /** Names of the artifacts in the snapshot (excluding manifest.json). */
  list(): readonly ArtifactInfo[];
  /**
   * The bytes of one artifact, each blob verified as it is read. Each piece is the consumer's
   * own (nothing else keeps it): one that is done with a piece may free it at once
   * (util/memory's `release`, as a write to a child's stdin does in its callback).
   */
  open(name: string): AsyncIterable<Uint8Array>;
  /** Restores the file tree stored by putFiles into `targetDir`, keeping absolute paths below it. */
  restoreFiles(targetDir: string, opts?: { stripPrefix?: boolean }): Promise<{ files: number; bytes: number }>;
}

export interface SourceLog {
  info(msg: string): void;
  warn(msg: string): void;
}

export interface SourceContext {
  readonly signal: AbortSignal;
  readonly log: SourceLog;
}

export interface BackupOutcome {
  readonly fingerprint: Fingerprint;
  /** Version of the server or tool, e.g. "PostgreSQL 15.18". */
  readonly serverVersion?: string;
  /** Commands run, without secrets (for the manifest). */
  readonly commands: readonly string[];
}

export interface RestoreOptions {
  /** Adapter-specific alternative target (database name, directory, redis URL…). */
  readonly to?: string;
  /**
   * The backup's fingerprint. A source that loads beside the live data (postgres, mysql)
   * compares it before it replaces anything, so a wrong restore never reaches the live store.
   */
  readonly expected?: Fingerprint;
}

/** What a semantic check of a stored backup found. */
export interface VerifyResult {
  /** What was checked, one line each ("pg_restore --list: 42 entries in shop.dump"). */
  readonly checks: readonly string[];
  /** What is wrong, one line each, naming the artifact; empty when the backup is sound. */
  readonly problems: readonly string[];
}

/**
 * A throwaway restore target for drills (a new database, a temporary server, a temp dir). It
 * never touches the live store. `cleanup` removes it and is always called, also after a
 * failure; it must be safe to call twice.
 */
export interface ScratchTarget {
  /** Passed as RestoreOptions.to to restore() and fingerprint(). */
  readonly to: string;
  /** For reports: "database lifeboat_drill_20261122T0412_shop on 127.0.0.1:5432". */
  readonly description: string;
  /**
   * Set when restoring into this target only reads the backup to its end, checking every hash
   * (a store that cannot be pointed at a copy): there is no restored data to fingerprint, so a
   * drill skips that comparison and reports this text instead.
   */
  readonly readOnly?: string;
  cleanup(): Promise<void>;
}

export interface Source {
  readonly name: string;
  readonly type: string;
  backup(sink: ArtifactSink, ctx: SourceContext): Promise<BackupOutcome>;
  restore(reader: ArtifactReader, ctx: SourceContext, opts?: RestoreOptions): Promise<void>;
  /** Fingerprint of the live data (of `opts.to` when given), comparable with the backup's. */
  fingerprint(ctx: SourceContext, opts?: RestoreOptions): Promise<Fingerprint>;
  /**
   * Semantic checks of a stored backup that never touch the live store: the dump tool can read
   * the dump, the RDB parses to its end, the SQLite copy passes integrity_check… (The SHA-256
   * of every artifact against the manifest is checked by the caller.)
   */
  verify?(reader: ArtifactReader, ctx: SourceContext): Promise<VerifyResult>;
  /** Creates a scratch target for a drill; sources without one cannot be drilled. */
  scratchTarget?(reader: ArtifactReader, ctx: SourceContext): Promise<ScratchTarget>;
}

/** Lists the differences between two fingerprints as "path: expected X, got Y" lines. */
export function compareFingerprints(expected: unknown, actual: unknown, at = ''): string[] {
  if (Object.is(expected, actual)) return [];
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (isObj(expected) && isObj(actual)) {
    const keys = [...new Set([...Object.keys(expected), ...Object.keys(actual)])].sort();
    return keys.flatMap((k) => compareFingerprints(expected[k], actual[k], at ? `${at}.${k}` : k));
  }
  if (Array.isArray(expected) && Array.isArray(actual) && expected.length === actual.length) {
    return expected.flatMap((v, i) => compareFingerprints(v, actual[i], `${at}[${i}]`));
  }
  const show = (v: unknown): string => (v === undefined ? 'nothing' : JSON.stringify(v));
  return [`${at || '(root)'}: expected ${show(expected)}, got ${show(actual)}`];
}
