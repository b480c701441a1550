/**
 * Offsite copies: snapshots of the repository copied into other repositories, by
 * `lifeboat copy` and after every `lifeboat backup` for the `copies:` of lifeboat.yml.
 *
 * A target is opened with its own password and a shared lock (as restic's copy: other
 * backups and copies may run at once; prune, which locks exclusively, may not). A missing
 * target is created only when asked (`lifeboat copy --init-to`), with the source's chunker
 * polynomial so that later backups written straight to it deduplicate against the copies.
 * A `copies:` target must exist: a typo in a URL must not silently start a new repository.
 */
import { RepositoryNotFoundError, UsageError, errorMessage, isNotFound } from '../core/errors.ts';
import { copySnapshots } from '../repo/copier/copier.ts';
import type { CopyProgress, CopySummary } from '../repo/copier/copier.ts';
import { Repository } from '../repo/repository.ts';
import { addCopiesToReport, runCopies } from '../ops/copies.ts';
import type { CopyResult } from '../ops/copies.ts';
import { sourceOfTags, toStackSnapshot } from '../repo/stack/tags.ts';
import { listSnapshots } from '../repo/snapshot/snapshot.ts';
import type { Snapshot } from '../repo/snapshot/snapshot.ts';
import { redactLocation } from '../storage/registry.ts';
import { openRepositoryAt } from './open-repository.ts';
import type { LockWait, OpenedRepository } from './open-repository.ts';
import { openStorage } from './repository-url.ts';
import type { CopyConfig } from '../config/schema.ts';
import type { SecretResolver } from '../sources/source-kit.ts';
import { nowMs } from '../util/clock.ts';

export interface CopyTarget {
  readonly location: string;
  readonly password: string;
}

export interface CopyToOptions extends LockWait {
  signal: AbortSignal;
  env: NodeJS.ProcessEnv;
  /** Create the target (same chunker polynomial as the source) when it has no repository. */
  init?: boolean;
  onProgress?: (p: CopyProgress) => void;
  onSnapshot?: (e: { source: string; target: string; copied: boolean }) => void;
}

export interface CopyToResult extends CopySummary {
  /** The target's location as storage names it (no credentials). */
  repository: string;
  /** True when the target repository was created by this copy. */
  created: boolean;
  /** The target chunks with the source's polynomial (future backups there dedup against the copies). */
  sameChunker: boolean;
  duration_ms: number;
}

/** A location fit for messages and reports: REST URLs may carry a user and password. */
export function displayLocation(location: string): string {
  return redactLocation(location);
}

/** Snapshots of stack sources: those holding one of `names`. */
export function snapshotsOfSources(all: readonly Snapshot[], names: readonly string[]): Snapshot[] {
  const wanted = new Set(names);
  return all.filter((s) => wanted.has(sourceOfTags(s.tags) ?? ''));
}

/** Creates the target when asked and missing; otherwise a missing target is a NotFoundError. */
async function ensureTarget(src: Repository, target: CopyTarget, opts: CopyToOptions): Promise<boolean> {
  const storage = await openStorage(target.location, { env: opts.env });
  try {
    try {
      await storage.stat({ type: 'config', name: '' }, { signal: opts.signal });
      return false;
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    const where = displayLocation(target.location);
    if (!opts.init) {
      throw new RepositoryNotFoundError(`no repository at copy target ${where}`, {
        hint: `create it with "lifeboat copy --to ${where} --init-to" (same chunker parameters as the source), then run again`,
      });
    }
    await Repository.init(storage, target.password, { polynomial: src.config.chunker_polynomial, signal: opts.signal });
    return true;
  } finally {
    await storage.close();
  }
}

/** Copies `snapshots` of `src` into the target: opens it (shared lock), copies, closes it. */
export async function copyToRepository(src: Repository, target: CopyTarget, snapshots: readonly Snapshot[], opts: CopyToOptions): Promise<CopyToResult> {
  const started = nowMs();
  const created = await ensureTarget(src, target, opts);
  const dst: OpenedRepository = await openRepositoryAt(target.location, target.password, { lock: 'shared', signal: opts.signal, env: opts.env, retryLockMs: opts.retryLockMs, onLockWait: opts.onLockWait });
  try {
    if (dst.repo.config.id === src.config.id) {
      throw new UsageError(`copy target ${dst.repo.location} is the source repository itself`, { hint: 'give another repository with --to' });
    }
    const summary = await copySnapshots(src, dst.repo, snapshots, { signal: opts.signal, onProgress: opts.onProgress, onSnapshot: opts.onSnapshot });
    // Another polynomial is no error (blob IDs do not depend on the chunker); only backups
    // written straight to the target then share no chunks with the copies.
    const sameChunker = dst.repo.config.chunker_polynomial === src.config.chunker_polynomial;
    return { ...summary, repository: dst.repo.location, created, sameChunker, duration_ms: nowMs() - started };
  } finally {
    await dst.close();
  }
}

/** What syncCopies needs of a stack (app/stack.ts's Stack; not imported: stack.ts calls us). */
export interface CopiesStack {
  readonly loaded: { readonly config: { readonly copies?: readonly CopyConfig[] } };
  readonly secrets: SecretResolver;
  readonly sources: ReadonlyMap<string, unknown>;
}

export interface SyncCopiesOptions {
  env: NodeJS.ProcessEnv;
  signal: AbortSignal;
  log: { info(msg: string): void; warn(msg: string): void };
  /** Sources whose snapshots are copied (default every source of the stack). */
  sources?: readonly string[];
  onProgress?: (target: string, p: CopyProgress) => void;
  /** Keep trying this long for a target's lock another process holds (`--retry-lock`). */
  retryLockMs?: number;
}

/**
 * Brings every `copies:` target of lifeboat.yml up to date with the snapshots of `sources`
 * in the (open, locked) repository: ops/copies over copyToRepository.
 */
export async function syncCopies(stack: CopiesStack, opened: OpenedRepository, opts: SyncCopiesOptions): Promise<CopyResult[]> {
  const copies = stack.loaded.config.copies ?? [];
  if (copies.length === 0) return [];
  const names = opts.sources ?? [...stack.sources.keys()];
  const all = await listSnapshots(opened.repo, { signal: opts.signal, onError: (id, err) => opts.log.warn(`snapshot ${id.slice(0, 8)} cannot be read: ${errorMessage(err)}`) });
  const byId = new Map(snapshotsOfSources(all, names).map((s) => [s.id, s]));
  const wanted = [...byId.values()].map(toStackSnapshot).filter((s) => s !== undefined);
  const targets = copies.map((c, index) => ({ index, displayLocation: displayLocation(c.repository.url) }));
  return runCopies(targets, wanted, {
    async copyTo(target, snapshots, onSnapshot) {
      const copy = copies[target.index] as CopyConfig;
      const password = await stack.secrets(copy.repository.password, `copies[${target.index}].repository.password`);
      const r = await copyToRepository(opened.repo, { location: copy.repository.url, password }, snapshots.map((s) => byId.get(s.id) as Snapshot), {
        signal: opts.signal,
        env: opts.env,
        retryLockMs: opts.retryLockMs,
        onLockWait: opts.log.warn,
        onProgress: opts.onProgress ? (p) => opts.onProgress?.(target.displayLocation, p) : undefined,
        onSnapshot: (e) => onSnapshot(e.copied),
      });
      return { repository: r.repository, copied: r.copied.length, skipped: r.skipped.length, blobsCopied: r.blobsCopied, bytesCopied: r.bytesCopied };
    },
    log: opts.log,
    now: () => nowMs(),
  }, opts.signal);
}

export { addCopiesToReport };
export type { CopyResult };
