/**
 * The `files` source: plain files and directories (Docker volume dirs, FAISS index folders,
 * configs, .env files) stored as a normal restic tree, so `restic ls` and `restic restore` work
 * on the snapshot as well as lifeboat does.
 *
 * Selection: `exclude` globs drop files and whole directories, `include` globs (when given) keep
 * only matching files; directories are always walked. Globs are matched with path.matchesGlob
 * against the absolute path and against the base name, so both `/srv/app/cache/**` and `*.tmp`
 * work. The same predicate drives the backup and the fingerprint, so they describe one set.
 *
 * Fingerprint: file count, total bytes, and per configured path a tree hash: the sha256 over the
 * sorted lines "relpath\0type\0size\0sha256(content or link target)\n", relative to that path.
 * Paths are keyed by their configured absolute path, so a tree restored under `to:` compares
 * equal with the original. A path that does not exist has the tree hash null.
 *
 * Restore (files-replace.ts): the tree is restored into a staging dir on each target's
 * filesystem, then swapped in by rename; afterwards each configured path equals the snapshot,
 * except that entries the source excludes are never touched. A failure before or during the
 * swap leaves the live tree as it was. With `to: DIR` the original absolute paths are recreated
 * below DIR (/srv/data → DIR/srv/data).
 *
 * Index files (`format: faiss`): the copy is repeated until no entry changed while it was read
 * (files-checks.ts), each index file must parse (a torn or truncated index fails the backup
 * instead of being stored as good), and the fingerprint adds each index's fourcc, d and
 * ntotal, which verify and drills check on the restored copy.
 *
 * verify restores the whole tree into a temp dir under deps.tmpDir (reading every file, which
 * also checks every blob), fingerprints the copy the way backup fingerprints the live paths,
 * reports the counts and tree hashes, and removes the copy. A drill's scratch target is a temp
 * dir under deps.tmpDir used as `to`.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir, readlink, rm } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CancelledError, SourceError, errorMessage, isLifeboatError } from '../../core/errors.ts';
import type {
  ArtifactReader, ArtifactSink, BackupOutcome, Fingerprint, RestoreOptions, ScratchTarget, Source, SourceContext, VerifyResult,
} from '../../core/source.ts';
import type { SourceDeps, SourceType } from '../source-kit.ts';
import { filesKeys } from './files-config.ts';
import { TreeSwap, lstatOrNull, makeStaging, mountsUnder, stagingParent } from './files-replace.ts';
import { DEFAULT_INDEX_FILES, checkIndexFiles, firstChange, indexFingerprint, statTree } from './files-checks.ts';
import type { FilesConfig } from './files-config.ts';
import type { RunnerContainer } from '../../core/command-runner.ts';

type HostView = { readonly root: string; readonly mountinfo: string };

/** `p` as this host reaches it: itself, or below a container's view. */
const inView = (v: HostView | undefined, p: string): string => (v === undefined ? p : path.join(v.root, p));

/** True when an entry is left out of the backup and of the fingerprint. */
export type ExcludeFilter = (absPath: string, isDir: boolean) => boolean;

const matchesAny = (globs: readonly string[], abs: string): boolean =>
  globs.some((g) => path.matchesGlob(abs, g) || path.matchesGlob(path.basename(abs), g));

export function excludeFilter(config: Pick<FilesConfig, 'exclude' | 'include'>): ExcludeFilter {
  const exclude = config.exclude ?? [];
  const include = config.include;
  return (abs, isDir) => {
    if (exclude.length > 0 && matchesAny(exclude, abs)) return true;
    return !isDir && include !== undefined && !matchesAny(include, abs);
  };
}

/**
 * The configured paths, absolute, without duplicates and without paths inside another one
 * (the outer path already holds them, and restoring both would replace the inner twice).
 */
export function topLevelPaths(paths: readonly string[]): string[] {
  const sorted = [...new Set(paths.map((p) => path.resolve(p)))].sort();
  const inside = (p: string, parent: string): boolean => p.startsWith(parent.endsWith(path.sep) ? parent : parent + path.sep);
  return sorted.filter((p) => !sorted.some((q) => q !== p && inside(p, q)));
}

export interface FilesFingerprint {
  readonly files: number;
  readonly bytes: number;
  /** Tree hash per configured path; null when the path does not exist. */
  readonly trees: Readonly<Record<string, string | null>>;
}

interface TreeTally {
  files: number;
  bytes: number;
  lines: Array<[string, string]>;
}

async function sha256File(file: string, signal: AbortSignal): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file, { signal })) h.update(chunk as Buffer);
  return h.digest('hex');
}

function kindOf(st: Stats): string {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFIFO()) return 'fifo';
  if (st.isSocket()) return 'socket';
  if (st.isCharacterDevice()) return 'chardev';
  return 'blockdev';
}

/**
 * Walks one entry. `orig` is its configured absolute path (what globs are matched against),
 * `actual` where it is now (the same, or below a restore's `to:`).
 */
async function walk(orig: string, actual: string, rel: string, tally: TreeTally, excluded: ExcludeFilter, signal: AbortSignal): Promise<void> {
  if (signal.aborted) throw new CancelledError('fingerprint cancelled');
  let st: Stats;
  try {
    st = await lstat(actual);
  } catch (err) {
    // Live data: an entry removed since its directory was listed simply is not there.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  const kind = kindOf(st);
  if (excluded(orig, kind === 'dir')) return;
  const line = (size: number, hash: string): void => void tally.lines.push([rel, `${rel}\0${kind}\0${size}\0${hash}\n`]);
  if (kind === 'dir') {
    line(0, '');
    for (const name of (await readdir(actual)).sort()) {
      await walk(path.join(orig, name), path.join(actual, name), rel === '.' ? name : `${rel}/${name}`, tally, excluded, signal);
    }
  } else if (kind === 'file') {
    line(st.size, await sha256File(actual, signal));
    tally.files++;
    tally.bytes += st.size;
  } else if (kind === 'symlink') {
    const target = await readlink(actual, { encoding: 'buffer' });
    line(target.length, createHash('sha256').update(target).digest('hex'));
    tally.files++;
  } else {
    line(0, '');
    tally.files++;
  }
}

/** The fingerprint of the configured paths, read at `locate(path)`. */
export async function fingerprintTrees(roots: readonly string[], locate: (p: string) => string, excluded: ExcludeFilter, signal: AbortSignal): Promise<FilesFingerprint> {
  let files = 0;
  let bytes = 0;
  const trees: Array<[string, string | null]> = [];
  for (const root of roots) {
    const actual = locate(root);
    const present = await lstat(actual).then(
      () => true,
      (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return false;
        throw err;
      },
    );
    if (!present) {
      trees.push([root, null]);
      continue;
    }
    const tally: TreeTally = { files: 0, bytes: 0, lines: [] };
    await walk(root, actual, '.', tally, excluded, signal);
    tally.lines.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const h = createHash('sha256');
    for (const [, l] of tally.lines) h.update(l);
    trees.push([root, h.digest('hex')]);
    files += tally.files;
    bytes += tally.bytes;
  }
  return { files, bytes, trees: Object.fromEntries(trees) };
}

/** Where a restore swaps in: a configured path (below `to:`), or a filesystem mounted inside one. */
interface Place {
  readonly live: string;
  /** The configured absolute path this place stands for (globs are matched against it). */
  readonly orig: string;
  readonly configured: boolean;
}

const STABLE_ATTEMPTS = 3;

type IndexedFingerprint = FilesFingerprint & { readonly indexes?: ReturnType<typeof indexFingerprint> };

export class FilesSource implements Source {
  readonly name: string;
  readonly type = 'files';
  readonly #roots: readonly string[];
  readonly #excluded: ExcludeFilter;
  /** Whether exclude/include may leave entries out anywhere in the tree. */
  readonly #filtered: boolean;
  /** Where verify's copy and drill targets go. */
  readonly #tmpDir: string;
  /** Globs of the index files to parse, when `format` is set. */
  readonly #indexGlobs: readonly string[] | undefined;
  readonly #stableCopy: boolean;
  /** Set when the paths are in a container (container:/compose:): they are paths in there. */
  readonly #container: RunnerContainer | undefined;

  constructor(name: string, config: FilesConfig, deps?: SourceDeps) {
    this.name = name;
    this.#roots = topLevelPaths(config.paths);
    this.#excluded = excludeFilter(config);
    this.#filtered = (config.exclude?.length ?? 0) > 0 || config.include !== undefined;
    this.#tmpDir = deps?.tmpDir ?? tmpdir();
    this.#indexGlobs = config.format === 'faiss' ? (config.format_files ?? DEFAULT_INDEX_FILES) : undefined;
    this.#stableCopy = config.stable_copy ?? config.format !== undefined;
    this.#container = deps?.runner.container;
  }

  /**
   * Where the configured paths are: on this host (undefined), or in the container, whose
   * filesystem (its volumes and bind mounts included) this host sees at /proc/PID/root: read
   * and written there with the same code, metadata and safety as local paths.
   */
  async #view(): Promise<HostView | undefined> {
    const c = this.#container;
    if (c === undefined) return undefined;
    const v = await c.hostView();
    if (v === undefined) {
      throw new SourceError(`source ${this.name}: the files of ${c.description} are read through its /proc/PID/root, which this process cannot read: run it as root on the engine's host, or back them up with a command source (tar) in the container`, {
        hint: 'run it as root on the host of the container engine, or back the files up with a command source (tar) in the container',
      });
    }
    return v;
  }

  /** The exclude filter for paths as read (below the view's root), matched as configured paths. */
  #excludedIn(v: HostView | undefined): ExcludeFilter {
    return v === undefined ? this.#excluded : (abs, isDir) => this.#excluded(path.join('/', path.relative(v.root, abs)), isDir);
  }

  #cancelled(what: string, cause?: unknown): CancelledError {
    return new CancelledError(`${what} of source ${this.name} cancelled`, cause === undefined ? {} : { cause });
  }

  async backup(sink: ArtifactSink, ctx: SourceContext): Promise<BackupOutcome> {
    if (ctx.signal.aborted) throw this.#cancelled('backup');
    const v = await this.#view();
    for (const root of this.#roots) {
      try {
        await lstat(inView(v, root));
      } catch (err) {
        throw new SourceError(`source ${this.name}: ${root}${v === undefined ? '' : ` in ${this.#container?.description}`} cannot be read: ${errorMessage(err).replace(v?.root ?? '\0', '')}`, {
          cause: err,
          hint: 'fix `paths` in lifeboat.yml or create the path; lifeboat never stores a silently empty backup',
        });
      }
    }
    try {
      const stored = await this.#copy(sink, ctx, v);
      if (ctx.signal.aborted) throw this.#cancelled('backup');
      // Read after the copy: files that change meanwhile make the fingerprint differ from the
      // stored tree, which a restore drill reports. Stop writers with hooks for an exact copy.
      const fingerprint = await this.#fingerprint((p) => inView(v, p), ctx);
      const torn = Object.entries(fingerprint.indexes ?? {}).filter(([, v]) => typeof v === 'string');
      if (torn.length > 0) {
        throw new SourceError(`source ${this.name}: ${torn[0][0]} is ${torn[0][1]}`, {
          hint: 'the index was being written or its last write crashed; stop its writer with backup.hooks.before (or have it write a temp file and rename) and back up again',
        });
      }
      ctx.log.info(`source ${this.name}: stored ${stored.files} files, ${stored.bytes} bytes`);
      return { fingerprint: { ...fingerprint }, commands: [`files ${this.#roots.join(' ')}`] };
    } catch (err) {
      if (ctx.signal.aborted && !(err instanceof CancelledError)) throw this.#cancelled('backup', err);
      throw err;
    }
  }

  /**
   * putFiles; with stable_copy again while some entry changed during the copy, at most
   * STABLE_ATTEMPTS times (each copy stores only what changed: the rest dedupes).
   */
  async #copy(sink: ArtifactSink, ctx: SourceContext, v: HostView | undefined): Promise<{ files: number; bytes: number }> {
    const opts = { exclude: this.#excludedIn(v), ...(v === undefined ? {} : { readRoot: v.root }) };
    if (!this.#stableCopy) return sink.putFiles(this.#roots, opts);
    const read = this.#roots.map((r) => inView(v, r));
    let changed = '';
    for (let attempt = 1; attempt <= STABLE_ATTEMPTS; attempt++) {
      const before = await statTree(read, opts.exclude);
      const stored = await sink.putFiles(this.#roots, opts);
      const moved = firstChange(before, await statTree(read, opts.exclude));
      if (moved === undefined) return stored;
      changed = moved;
      if (ctx.signal.aborted) throw this.#cancelled('backup');
      ctx.log.warn(`source ${this.name}: ${moved} changed while it was copied (copy ${attempt} of at most ${STABLE_ATTEMPTS}); copying again`);
    }
    throw new SourceError(`source ${this.name}: ${changed} kept changing during ${STABLE_ATTEMPTS} copies; no consistent copy was stored`, {
      retryable: true,
      hint: 'stop its writer during the backup with backup.hooks.before/after, or back up when it is idle',
    });
  }

  async #fingerprint(locate: (p: string) => string, ctx: SourceContext): Promise<IndexedFingerprint> {
    const fp = await fingerprintTrees(this.#roots, locate, this.#excluded, ctx.signal);
    if (this.#indexGlobs === undefined) return fp;
    return { ...fp, indexes: indexFingerprint(await checkIndexFiles(this.#roots, locate, this.#excluded, this.#indexGlobs)) };
  }

  /** Where a configured path is restored to, as this host reaches it (in the container: below its view). */
  #target(root: string, opts: RestoreOptions | undefined, v: HostView | undefined): string {
    return inView(v, opts?.to === undefined ? root : path.join(path.resolve(opts.to), root));
  }

  /**
   * Restores every configured path (see files-replace.ts): the whole tree goes into a staging
   * dir on each target's filesystem first, then entries are swapped in by rename, excluded
   * entries stay as they are, and any failure puts the old entries back.
   */
  async restore(reader: ArtifactReader, ctx: SourceContext, opts?: RestoreOptions): Promise<void> {
    if (ctx.signal.aborted) throw this.#cancelled('restore');
    const v = await this.#view();
    const targets = this.#roots.map((root) => ({ root, target: this.#target(root, opts, v) }));
    for (const { target } of targets) await mkdir(path.dirname(target), { recursive: true });
    // A filesystem mounted inside a path is a place of its own: renames cannot cross into it.
    const places: Place[] = targets.map((t) => ({ live: t.target, orig: t.root, configured: true }));
    for (const { root, target } of targets) {
      for (const m of await mountsUnder(target, v)) places.push({ live: m, orig: path.join(root, path.relative(target, m)), configured: false });
    }
    const stagings = new Map<number, string>();
    let keep = false;
    try {
      const stagingOf = await this.#stage(reader, places, stagings, ctx);
      for (const { root, target } of targets) {
        if ((await lstatOrNull(path.join(stagingOf.get(target) as string, 'tree', root))) === null) {
          throw new SourceError(`source ${this.name}: the snapshot holds no ${root}`, {
            hint: 'pick a snapshot taken with this `paths` list, or restore that path with restic',
          });
        }
      }
      await this.#swapIn(places, stagingOf, ctx);
      ctx.log.info(`source ${this.name}: restored ${targets.map((t) => t.target).join(', ')}`);
    } catch (err) {
      if (err instanceof SourceError && err.data.kept === true) keep = true;
      if (ctx.signal.aborted && !(err instanceof CancelledError)) throw this.#cancelled('restore', err);
      throw err;
    } finally {
      if (!keep) for (const staging of stagings.values()) await rm(staging, { recursive: true, force: true });
    }
  }

  /**
   * Restores the whole tree once per filesystem of the places, into a staging dir there
   * (collected in `stagings` as they are made, so the caller can remove them); returns each
   * place's staging dir.
   */
  async #stage(reader: ArtifactReader, places: readonly Place[], stagings: Map<number, string>, ctx: SourceContext): Promise<Map<string, string>> {
    const stagingOf = new Map<string, string>();
    for (const { live } of places) {
      const parent = await stagingParent(live);
      const dev = (await lstat(parent)).dev;
      let staging = stagings.get(dev);
      if (staging === undefined) {
        staging = await makeStaging(parent, live);
        stagings.set(dev, staging);
        try {
          await mkdir(path.join(staging, 'tree'), { mode: 0o700 });
          await reader.restoreFiles(path.join(staging, 'tree'));
        } catch (err) {
          if (ctx.signal.aborted || isLifeboatError(err)) throw err;
          throw new SourceError(`source ${this.name}: cannot restore into ${staging} (the filesystem of ${live}): ${errorMessage(err)}; nothing live was changed`, {
            cause: err,
            hint: 'free space on that filesystem (the restore needs room for the whole snapshot beside the live data), or restore with restore.to elsewhere',
          });
        }
      }
      stagingOf.set(live, staging);
    }
    return stagingOf;
  }

  /**
   * Swaps every place in; on failure puts back what was swapped. When that too fails, the
   * error carries data.kept: the staging dirs hold the previous content and must stay.
   */
  async #swapIn(places: readonly Place[], stagingOf: ReadonlyMap<string, string>, ctx: SourceContext): Promise<void> {
    const stagings = [...new Set(stagingOf.values())];
    const skip = stagings.map((d) => path.basename(d));
    const pinned = places.filter((p) => !p.configured).map((p) => p.live);
    const swaps: TreeSwap[] = [];
    try {
      for (const { live, orig } of places) {
        if (ctx.signal.aborted) throw this.#cancelled('restore');
        const staging = stagingOf.get(live) as string;
        const trash = path.join(staging, `replaced-${swaps.length}`);
        await mkdir(trash, { recursive: true });
        const swap = new TreeSwap({ excluded: this.#excluded, filtered: this.#filtered, trash, skip, pinned: pinned.filter((m) => m !== live) });
        swaps.push(swap);
        const fresh = path.join(staging, 'tree', orig);
        await swap.replace(live, (await lstatOrNull(fresh)) === null ? null : fresh, orig);
      }
    } catch (err) {
      const stuck: string[] = [];
      for (const swap of swaps.reverse()) stuck.push(...(await swap.undo()));
      if (stuck.length > 0) {
        throw new SourceError(`source ${this.name}: the restore failed (${errorMessage(err)}) and ${stuck.length} entries could not be put back, first ${stuck[0]}`, {
          cause: err,
          hint: `the previous content is kept in ${stagings.join(', ')}`,
          data: { kept: true },
        });
      }
      if (err instanceof CancelledError || isLifeboatError(err)) throw err;
      throw new SourceError(`source ${this.name}: cannot put the restored files in place: ${errorMessage(err)}; the previous content was put back`, {
        cause: err,
        hint: 'check the permissions of the target paths, then run the restore again',
      });
    }
    for (const swap of swaps) await swap.discard();
  }

  async fingerprint(ctx: SourceContext, opts?: RestoreOptions): Promise<Fingerprint> {
    if (ctx.signal.aborted) throw this.#cancelled('fingerprint');
    const v = await this.#view();
    return { ...(await this.#fingerprint((p) => this.#target(p, opts, v), ctx)) };
  }

  /**
   * Restores the stored tree into a temp copy and fingerprints it. The caller compares that with
   * the manifest's fingerprint; here the restore must succeed and every configured path exist.
   */
  async verify(reader: ArtifactReader, ctx: SourceContext): Promise<VerifyResult> {
    if (ctx.signal.aborted) throw this.#cancelled('verify');
    await mkdir(this.#tmpDir, { recursive: true });
    const copy = await mkdtemp(path.join(this.#tmpDir, 'files-verify-'));
    try {
      let restored: { files: number; bytes: number };
      try {
        restored = await reader.restoreFiles(copy);
      } catch (err) {
        if (ctx.signal.aborted) throw this.#cancelled('verify', err);
        return { checks: [], problems: [`file tree: cannot be restored: ${errorMessage(err)}`] };
      }
      let fp: IndexedFingerprint;
      try {
        fp = await this.#fingerprint((p) => path.join(copy, p), ctx);
      } catch (err) {
        if (ctx.signal.aborted) throw this.#cancelled('verify', err);
        return { checks: [], problems: [`file tree: the restored copy cannot be read: ${errorMessage(err)}`] };
      }
      const problems = Object.entries(fp.trees)
        .filter(([, hash]) => hash === null)
        .map(([root]) => `file tree: holds no ${root} (a configured path)`);
      const checks = [
        `file tree: restored ${restored.files} files, ${restored.bytes} bytes into a temporary copy`,
        `file tree: fingerprint of the copy: ${fp.files} files, ${fp.bytes} bytes`,
        ...Object.entries(fp.trees).filter(([, hash]) => hash !== null).map(([root, hash]) => `file tree: ${root} tree hash ${hash}`),
      ];
      for (const [file, index] of Object.entries(fp.indexes ?? {})) {
        if (typeof index === 'string') problems.push(`${file}: ${index}`);
        else checks.push(`${file}: FAISS ${index.fourcc} index, d=${index.d}, ntotal=${index.ntotal}, parses`);
      }
      if (fp.indexes !== undefined && Object.keys(fp.indexes).length === 0) problems.push(`file tree: no index file (${(this.#indexGlobs ?? []).join(', ')}) in the copy, though format: faiss is set`);
      return { checks, problems };
    } finally {
      await rm(copy, { recursive: true, force: true });
    }
  }

  async scratchTarget(_reader: ArtifactReader, ctx: SourceContext): Promise<ScratchTarget> {
    if (ctx.signal.aborted) throw this.#cancelled('scratch target');
    const v = await this.#view();
    if (v !== undefined) {
      // Beside the live paths, in the container's /tmp: removed through a fresh view (a
      // restarted container has another pid).
      const dir = await mkdtemp(path.join(v.root, 'tmp', 'lifeboat-files-drill-'));
      const to = path.join('/', path.relative(v.root, dir));
      return {
        to,
        description: `directory ${to} in ${this.#container?.description}`,
        cleanup: async () => rm(inView(await this.#view(), to), { recursive: true, force: true }),
      };
    }
    await mkdir(this.#tmpDir, { recursive: true });
    const dir = await mkdtemp(path.join(this.#tmpDir, 'files-drill-'));
    return {
      to: dir,
      description: `directory ${dir}`,
      cleanup: () => rm(dir, { recursive: true, force: true }),
    };
  }
}

export const filesType = {
  type: 'files',
  description: 'files and directories (volumes, index folders, configs), stored as a browsable restic tree',
  keys: filesKeys,
  pathKeys: ['paths', 'restore.to'],
  create: (name, config, deps) => new FilesSource(name, config, deps),
} satisfies SourceType<FilesConfig>;
