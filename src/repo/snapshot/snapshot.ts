/**
 * Snapshots (design.rst, "Snapshots"): one unpacked file per backup naming its root tree,
 * with the host, user, paths and tags that forget policies group and filter by.
 */
import { IntegrityError, LifeboatError, NotFoundError, errorMessage } from '../../core/errors.ts';
import { isId } from '../../core/ids.ts';
import type { CallOptions } from '../../storage/storage.ts';
import type { Repository } from '../repository.ts';
import { parseDate } from '../../util/time.ts';

/**
 * What a backup did, as restic 0.17+ records it in the snapshot (internal/data/snapshot.go,
 * SnapshotSummary): the same field names, so `restic snapshots --json` consumers read ours.
 */
export interface SnapshotSummary {
  backup_start: string;
  backup_end: string;
  files_new: number;
  files_changed: number;
  files_unmodified: number;
  dirs_new: number;
  dirs_changed: number;
  dirs_unmodified: number;
  data_blobs: number;
  tree_blobs: number;
  /** Plaintext bytes of the blobs the backup added. */
  data_added: number;
  /** The same blobs as stored (compressed and encrypted). */
  data_added_packed: number;
  total_files_processed: number;
  total_bytes_processed: number;
}

/**
 * A snapshot file's JSON. Fields lifeboat does not know (written by newer restic or rustic)
 * stay on the loaded object and are written back by every rewrite (tag, rewrite, copy):
 * build the new document with `snapshotDocument`, never field by field.
 */
export interface SnapshotDoc {
  time: string;
  parent?: string;
  tree: string;
  paths: string[];
  hostname?: string;
  username?: string;
  uid?: number;
  gid?: number;
  excludes?: string[];
  tags?: string[];
  original?: string;
  program_version?: string;
  summary?: SnapshotSummary;
}

export interface Snapshot extends SnapshotDoc {
  readonly id: string;
  readonly date: Date;
}

export async function saveSnapshot(repo: Repository, doc: SnapshotDoc, opts: CallOptions = {}): Promise<string> {
  const clean: SnapshotDoc = { ...doc };
  if (!clean.parent) delete clean.parent;
  if (!clean.tags || clean.tags.length === 0) delete clean.tags;
  if (!clean.excludes || clean.excludes.length === 0) delete clean.excludes;
  return repo.saveUnpacked('snapshots', clean, opts);
}

/** The document of a loaded snapshot, unknown fields included, ready to be changed and saved. */
export function snapshotDocument(s: Snapshot): SnapshotDoc {
  const { id: _id, date: _date, ...doc } = s;
  return doc;
}

export async function loadSnapshot(repo: Repository, id: string, opts: CallOptions = {}): Promise<Snapshot> {
  const doc = (await repo.loadUnpacked('snapshots', id, opts)) as SnapshotDoc;
  if (typeof doc?.tree !== 'string' || typeof doc.time !== 'string') {
    throw new LifeboatError('integrity', `snapshot ${id} has no tree or time`);
  }
  return { ...doc, paths: doc.paths ?? [], id, date: parseDate(doc.time) };
}

/** Loads every snapshot; unreadable ones are reported through `onError` and skipped. */
export async function listSnapshots(
  repo: Repository,
  opts: CallOptions & { onError?: (id: string, err: unknown) => void } = {},
): Promise<Snapshot[]> {
  const ids: string[] = [];
  for await (const f of repo.storage.list('snapshots', opts)) if (isId(f.name)) ids.push(f.name);
  const out: Snapshot[] = [];
  for (const id of ids) {
    try {
      out.push(await loadSnapshot(repo, id, opts));
    } catch (err) {
      if (opts.onError) opts.onError(id, err);
      else throw err;
    }
  }
  return out.sort((a, b) => a.date.getTime() - b.date.getTime() || a.id.localeCompare(b.id));
}

export interface SnapshotFilter {
  hosts?: string[];
  tags?: string[][];
  paths?: string[];
}

export function matchesFilter(s: Snapshot, f: SnapshotFilter): boolean {
  if (f.hosts && f.hosts.length > 0 && !f.hosts.includes(s.hostname ?? '')) return false;
  if (f.paths && f.paths.length > 0 && !f.paths.every((p) => s.paths.includes(p))) return false;
  // --tag a,b --tag c: a snapshot matches when it has all tags of at least one group.
  if (f.tags && f.tags.length > 0 && !f.tags.some((group) => group.every((t) => (s.tags ?? []).includes(t)))) return false;
  return true;
}

/** Resolves "latest", a full ID or a unique prefix to one snapshot. */
export async function findSnapshot(repo: Repository, ref: string, filter: SnapshotFilter = {}, opts: CallOptions = {}): Promise<Snapshot> {
  if (ref === 'latest') {
    // An unreadable snapshot file may be the newest one: choosing the one before it would
    // restore older data without a word. restic fails here too.
    const unreadable: Array<{ id: string; err: unknown }> = [];
    const all = (await listSnapshots(repo, { ...opts, onError: (id, err) => unreadable.push({ id, err }) })).filter((s) => matchesFilter(s, filter));
    const first = unreadable[0];
    if (first) {
      if (!(first.err instanceof LifeboatError && first.err.code === 'integrity') && !(first.err instanceof SyntaxError)) throw first.err;
      const ids = unreadable.map((u) => u.id.slice(0, 8)).join(', ');
      throw new IntegrityError(`cannot tell which snapshot is the latest: ${unreadable.length} snapshot file${unreadable.length === 1 ? '' : 's'} cannot be read (${ids}: ${errorMessage(first.err)})`, {
        cause: first.err,
        data: { snapshots: unreadable.map((u) => u.id) },
        hint: 'name a snapshot by ID (see "lifeboat snapshots"), or "lifeboat forget" the damaged one',
      });
    }
    const last = all.at(-1);
    if (!last) {
      const narrowed = [filter.hosts?.length ? `host ${filter.hosts.join(' or ')}` : '', filter.tags?.length ? `tags ${filter.tags.map((g) => g.join('+')).join(' or ')}` : '', filter.paths?.length ? `path ${filter.paths.join(' and ')}` : ''].filter(Boolean);
      throw new NotFoundError(narrowed.length > 0 ? `no snapshot of ${narrowed.join(', ')}` : 'no snapshot found', { hint: 'run "lifeboat snapshots" to see what the repository holds' });
    }
    return last;
  }
  if (isId(ref)) return loadSnapshot(repo, ref, opts);
  const matches: string[] = [];
  for await (const f of repo.storage.list('snapshots', opts)) if (f.name.startsWith(ref)) matches.push(f.name);
  if (matches.length === 0) throw new NotFoundError(`no snapshot with ID ${ref}`, { hint: 'run "lifeboat snapshots" to list them' });
  if (matches.length > 1) throw new LifeboatError('usage', `snapshot ID prefix ${ref} is ambiguous (${matches.length} matches)`, { hint: 'give more characters of the ID' });
  return loadSnapshot(repo, matches[0] as string, opts);
}

/**
 * Replaces a snapshot by a changed document (tag, rewrite, repair snapshots), as restic does:
 * the new one is saved with `original` set, and only then is the old file removed (a crash
 * in between leaves both, never neither); `keepOld` keeps it. `original` names the first
 * snapshot of a chain of tag changes, or (`originalIsOld`, as restic's rewrite and repair
 * do) the one replaced. Returns the new ID.
 */
export async function replaceSnapshot(
  repo: Repository,
  old: Snapshot,
  doc: SnapshotDoc,
  opts: CallOptions & { keepOld?: boolean; originalIsOld?: boolean } = {},
): Promise<string> {
  const original = opts.originalIsOld ? old.id : (old.original ?? old.id);
  const id = await saveSnapshot(repo, { ...doc, original }, opts);
  if (!opts.keepOld && id !== old.id) await repo.storage.remove({ type: 'snapshots', name: old.id }, opts);
  return id;
}
