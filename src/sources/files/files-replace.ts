/**
 * Putting a restored tree in place of the live one without losing what the restore cannot put
 * back. The new tree is first restored completely into a staging dir on the target's own
 * filesystem (a hidden sibling `.<name>.lifeboat-restore-XXXXXX`, or inside the target when the
 * target is a mount point and cannot be renamed), so a full disk or a damaged snapshot fails
 * before anything live changed. Then entries are swapped by rename, which is atomic and needs
 * no space:
 *
 * - an entry the source excludes (exclude/include) is never moved, changed or deleted;
 * - a directory on both sides is merged when the source has filters (excluded entries may sit
 *   anywhere below it); otherwise it is swapped whole;
 * - a live entry that is not in the snapshot is moved out, so the tree equals the snapshot;
 * - every rename is journaled, and any failure undoes them in reverse order, so the live tree
 *   is either the old one or the new one. Replaced entries are deleted only after the last swap.
 */
import { chmod, chown, lstat, mkdir, mkdtemp, readFile, readdir, realpath, rename, rm, rmdir, utimes } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import path from 'node:path';

/** True when the source leaves an entry out (files-source.ts's ExcludeFilter). */
type ExcludeFilter = (absPath: string, isDir: boolean) => boolean;

/** Where the staging dir for `target` goes: beside it, or inside it when it is a mount point. */
export async function stagingParent(target: string): Promise<string> {
  const parent = path.dirname(target);
  const [t, p] = await Promise.all([lstatOrNull(target), lstat(parent)]);
  return t?.isDirectory() && t.dev !== p.dev ? target : parent;
}

export async function lstatOrNull(p: string): Promise<Stats | null> {
  try {
    return await lstat(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** /proc/self/mountinfo escapes space, tab, newline and backslash in paths as octal. */
const unescapeMount = (p: string): string => p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

/**
 * Mount points strictly inside `dir` (Linux; none elsewhere), deepest last. With `view` (a
 * container's filesystem as this host sees it) `dir` is below view.root and the mounts are
 * that container's.
 */
export async function mountsUnder(dir: string, view?: { readonly root: string; readonly mountinfo: string }): Promise<string[]> {
  let info: string;
  try {
    info = await readFile(view?.mountinfo ?? '/proc/self/mountinfo', 'utf8');
  } catch {
    return []; // Not Linux: no mountinfo, and nested mounts are not looked for.
  }
  if (view !== undefined) {
    const inside = path.join('/', path.relative(view.root, dir));
    const points = info.split('\n').map((l) => l.split(' ')[4]).filter((m): m is string => m !== undefined)
      .map(unescapeMount).filter((m) => m.startsWith(`${inside}/`));
    return [...new Set(points)].sort().map((m) => path.join(view.root, m));
  }
  const real = await realpath(dir).catch(() => dir);
  const inside = info.split('\n').map((l) => l.split(' ')[4]).filter((m): m is string => m !== undefined)
    .map(unescapeMount).filter((m) => m.startsWith(`${real}/`));
  // Reported under the path the caller uses, which may differ from the real one by symlinks.
  return [...new Set(inside)].sort().map((m) => path.join(dir, path.relative(real, m)));
}

/** A hidden staging dir in `parent`, named after the target it is for. */
export function makeStaging(parent: string, target: string): Promise<string> {
  return mkdtemp(path.join(parent, `.${path.basename(target)}.lifeboat-restore-`));
}

export class TreeSwap {
  readonly #excluded: ExcludeFilter;
  readonly #filtered: boolean;
  readonly #trash: string;
  /** Names never looked at in a live directory (the staging dir when it sits inside the target). */
  readonly #skip: Set<string>;
  /** Mount points inside the tree: swapped on their own, so never moved, and merged down to. */
  readonly #pinned: readonly string[];
  readonly #journal: Array<{ from: string; to: string }> = [];
  #n = 0;

  constructor(opts: { excluded: ExcludeFilter; filtered: boolean; trash: string; skip?: Iterable<string>; pinned?: readonly string[] }) {
    this.#excluded = opts.excluded;
    this.#filtered = opts.filtered;
    this.#trash = opts.trash;
    this.#skip = new Set(opts.skip ?? []);
    this.#pinned = opts.pinned ?? [];
  }

  async #move(from: string, to: string): Promise<void> {
    await rename(from, to);
    this.#journal.push({ from, to });
  }

  #aside(): string {
    return path.join(this.#trash, String(this.#n++));
  }

  /**
   * Puts `fresh` (the restored entry) at `live`; `orig` is the configured absolute path the
   * globs are matched against. `fresh` null: the snapshot has no such entry.
   */
  async replace(live: string, fresh: string | null, orig: string): Promise<void> {
    if (this.#pinned.includes(live)) return;
    const [l, f] = await Promise.all([lstatOrNull(live), fresh === null ? null : lstatOrNull(fresh)]);
    if (l !== null && this.#excluded(orig, l.isDirectory())) return;
    if (f !== null && this.#excluded(orig, f.isDirectory())) return;
    if (l === null) {
      if (f !== null && fresh !== null) await this.#move(fresh, live);
      return;
    }
    // A live directory is merged when something below it may be excluded, when it cannot be
    // renamed (a mount point: its parent's device differs), or when a mount point is below it.
    const mountPoint = l.isDirectory() && (await lstat(path.dirname(live))).dev !== l.dev;
    const holdsMount = this.#pinned.some((m) => m.startsWith(`${live}/`));
    if (l.isDirectory() && (f === null || f.isDirectory()) && (this.#filtered || mountPoint || holdsMount)) {
      await this.#merge(live, f === null ? null : fresh, orig);
      if (f !== null && fresh !== null) await copyMeta(fresh, live, f);
      else await rmdir(live).catch(() => undefined); // Kept when excluded entries remain in it.
      return;
    }
    if (l.isDirectory() && this.#filtered && (await this.#holdsExcluded(live, orig))) {
      throw new Error(`${live} holds entries the source excludes, but the snapshot has a file there; move them away and restore again`);
    }
    await this.#move(live, this.#aside());
    if (f !== null && fresh !== null) await this.#move(fresh, live);
  }

  async #holdsExcluded(dir: string, orig: string): Promise<boolean> {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      if (this.#excluded(path.join(orig, e.name), e.isDirectory())) return true;
      if (e.isDirectory() && (await this.#holdsExcluded(path.join(dir, e.name), path.join(orig, e.name)))) return true;
    }
    return false;
  }

  async #merge(live: string, fresh: string | null, orig: string): Promise<void> {
    const names = new Set((await readdir(live)).filter((n) => !this.#skip.has(n)));
    if (fresh !== null) for (const n of await readdir(fresh)) names.add(n);
    for (const name of [...names].sort()) {
      await this.replace(path.join(live, name), fresh === null ? null : path.join(fresh, name), path.join(orig, name));
    }
  }

  /** Moves every swapped entry back, newest first. Best effort: returns what could not be undone. */
  async undo(): Promise<string[]> {
    const failed: string[] = [];
    for (const { from, to } of this.#journal.reverse()) {
      try {
        await mkdir(path.dirname(from), { recursive: true });
        await rename(to, from);
      } catch {
        failed.push(from);
      }
    }
    this.#journal.length = 0;
    return failed;
  }

  /** Deletes the replaced entries (after the last swap succeeded). */
  async discard(): Promise<void> {
    await rm(this.#trash, { recursive: true, force: true });
  }
}

/** Mode, owner (when we may) and times of a merged directory, as the restored one has them. */
async function copyMeta(from: string, to: string, st: Stats): Promise<void> {
  await chmod(to, st.mode & 0o7777);
  if (process.getuid?.() === 0) await chown(to, st.uid, st.gid);
  await utimes(to, st.atime, st.mtime);
}
