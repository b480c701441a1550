/**
 * `lifeboat backup PATH…` and `lifeboat backup --stdin --stdin-filename NAME`: restic's
 * backup command. (Stack backups from lifeboat.yml are `lifeboat run`, later.)
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { InvalidArgumentError } from 'commander';
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { CancelledError, LifeboatError, UsageError } from '../../core/errors.ts';
import { printResults, withStack } from '../stack-access.ts';
import { withRepository } from '../repo-access.ts';
import { Archiver } from '../../repo/archiver/archiver.ts';
import { expectBulkData } from '../../repo/bulk-data.ts';
import { compilePatterns } from '../../repo/archiver/path-pattern.ts';
import type { BackupSummary } from '../../repo/archiver/archiver.ts';
import { listSnapshots } from '../../repo/snapshot/snapshot.ts';
import type { Snapshot } from '../../repo/snapshot/snapshot.ts';
import { VERSION } from '../../version.ts';
import { formatBytes, formatDuration } from '../output.ts';
import { collect, etaText, rateLine } from './common.ts';
import { stackProgressOptions } from '../stack-progress.ts';
import { scanTotals } from '../../util/scan.ts';
import { releasing } from '../../util/memory.ts';
import type { ScanTotals } from '../../util/scan.ts';
import { nowMs } from '../../util/clock.ts';

interface BackupFlags {
  stdin?: boolean;
  stdinFilename: string;
  tag: string[];
  host?: string;
  parent?: string;
  exclude: string[];
  excludeFile: string[];
  filesFrom: string[];
  oneFileSystem?: boolean;
  excludeCaches?: boolean;
  skipIfUnchanged?: boolean;
  dryRun?: boolean;
  readConcurrency?: number;
  force?: boolean;
  only?: string;
}

/**
 * `input` until `signal` aborts, then the abort's reason is thrown at once: a producer that has
 * gone quiet (pg_dump waiting on a lock) cannot keep a backup whose repository already failed
 * waiting for its next byte, with the lock held. `stop` gives the input up (when aborted, or
 * when the reader stops early) without waiting for the read in flight.
 */
export async function* until<T>(input: AsyncIterable<T>, signal: AbortSignal, stop: () => void): AsyncGenerator<T> {
  const it = input[Symbol.asyncIterator]();
  let onAbort = (): void => undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  aborted.catch(() => undefined); // observed by the race below
  let ended = false;
  try {
    for (;;) {
      const r = await Promise.race([it.next(), aborted]);
      if (r.done) {
        ended = true;
        return;
      }
      yield r.value;
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
    if (!ended) stop();
  }
}

export function registerBackup(program: Command, ctx: CliContext): void {
  program
    .command('backup')
    .description('back up the sources of lifeboat.yml (no arguments), or files and directories, or stdin')
    .argument('[paths...]', 'files and directories to back up')
    .option('--stdin', 'read the data to back up from standard input')
    .option('--stdin-filename <name>', 'file name to store stdin under', 'stdin')
    .option('--tag <tags>', 'add tags to the snapshot (comma separated; repeatable)', collect, [])
    .option('--host <hostname>', 'hostname to record in the snapshot')
    .option('--parent <id>', 'snapshot to compare with for unchanged files (default: latest of the same paths)')
    .option('-e, --exclude <pattern>', 'exclude a pattern, as restic (*, ?, [..], **; /a/b anchored, a/b anywhere; repeatable)', collect, [])
    .option('--exclude-file <file>', 'read exclude patterns from a file, one a line, # comments (repeatable)', collect, [])
    .option('--files-from <file>', 'read the paths to back up from a file, one a line, # comments (repeatable)', collect, [])
    .option('-x, --one-file-system', 'do not cross file system boundaries (a mount point is kept, empty)')
    .option('--exclude-caches', 'leave out the contents of directories with a CACHEDIR.TAG file (the tag is kept)')
    .option('--skip-if-unchanged', 'write no snapshot when nothing changed since the parent snapshot')
    .option('-n, --dry-run', 'do not write anything: count what would be backed up')
    .option('--read-concurrency <n>', 'large files read at once (default 2), as restic', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`"${v}" is not a positive whole number`);
      return n;
    })
    .option('-f, --force', 'read all files, ignoring the parent snapshot')
    .option('--only <sources>', 'stack mode: back up only these sources of lifeboat.yml (comma separated)')
    .action(async (given: string[], flags: BackupFlags) => {
      const paths = [...given, ...(await readListFiles(flags.filesFrom))];
      if (!flags.stdin && paths.length === 0) {
        if (flags.filesFrom.length > 0) throw new UsageError(`no paths in ${flags.filesFrom.join(', ')}`, { hint: 'list one path a line' });
        return backupStackCommand(ctx, flags.only);
      }
      if (flags.only) throw new UsageError('--only selects sources of lifeboat.yml; it takes no paths');
      if (flags.stdin && paths.length > 0) throw new UsageError('--stdin takes no paths');
      const tags = flags.tag.flatMap((t) => t.split(',')).filter(Boolean);
      const started = nowMs();
      await withRepository(ctx, { lock: 'shared' }, async ({ repo }) => {
        let lastDraw = 0;
        const patterns = [...flags.exclude, ...(await readListFiles(flags.excludeFile)).map(expandEnv(ctx.env))];
        const exclude = excludeRules(compilePatterns(patterns), paths, flags);
        if (flags.dryRun) {
          const t = await scanTotals(flags.stdin ? [] : paths, { exclude, signal: ctx.signal });
          ctx.out.result({ message_type: 'summary', dry_run: true, total_files_processed: t.files, total_bytes_processed: t.bytes });
          ctx.out.line(`would back up ${t.files} files, ${formatBytes(t.bytes)} (dry run: nothing was read or written)`);
          return;
        }
        // Totals for a percentage and an ETA, counted next to the backup (TTY only).
        let totals: ScanTotals | undefined;
        if (ctx.out.isInteractive && !flags.stdin) void scanTotals(paths, { exclude, signal: ctx.signal }).then((t) => (totals = t));
        const archiver = new Archiver(repo, {
          signal: ctx.signal,
          exclude,
          fileConcurrency: flags.readConcurrency ?? envConcurrency(ctx.env.RESTIC_READ_CONCURRENCY),
          onProgress: (p) => {
            const now = nowMs();
            if (now - lastDraw < 200) return;
            lastDraw = now;
            const pct = totals && totals.bytes > 0 ? `${Math.min(100, (100 * p.bytesRead) / totals.bytes).toFixed(1)}%  ` : '';
            const eta = totals ? `  ${etaText(p.bytesRead, totals.bytes, now - started)}` : '';
            ctx.out.progress(`${pct}${p.files}${totals ? `/${totals.files}` : ''} files  ${rateLine(p.bytesRead, now - started)}  added ${formatBytes(p.bytesAdded)}${eta}  ${p.current ?? ''}`);
          },
        });
        const host = flags.host;
        let tree: string;
        let snapPaths: string[];
        let parent: Snapshot | undefined;
        if (flags.stdin) {
          const name = flags.stdinFilename;
          if (name.includes('/') && name.split('/').some((p) => p === '..')) throw new UsageError('--stdin-filename must not contain ".."');
          // A plain file: no whole-stream hash needed. The chunker copies what it keeps, so each
          // piece of stdin is freed once it is cut.
          const r = await archiver.saveContent(releasing(until(process.stdin, repo.writeFailure, () => process.stdin.destroy())), name, { sha256: false });
          // An empty stdin usually means the producer upstream failed (pg_dump … | lifeboat): refuse, as restic does.
          if (r.size === 0) throw new LifeboatError('empty_input', `no data read from stdin for ${name}; no snapshot was written`, { hint: 'check the command that feeds lifeboat backup --stdin' });
          tree = await archiver.saveVirtualTree([{ path: name, content: r.content, size: r.size, mode: 0o644 }]);
          snapPaths = [`/${name.replace(/^\/+/, '')}`];
        } else {
          snapPaths = paths.map((p) => path.resolve(p));
          if (!flags.force) parent = await findParent(repo, snapPaths, host, flags.parent);
          // No earlier snapshot of these paths: every file is new, so the codec thread will be
          // needed; it loads while the walk starts instead of after the first 16 MiB.
          if (!parent && !flags.force) expectBulkData();
          tree = await archiver.saveTargets(paths, parent);
        }
        if (flags.skipIfUnchanged && parent && parent.tree === tree) {
          ctx.out.clearProgress();
          ctx.out.result({ message_type: 'summary', snapshot_id: null, skipped: true, parent: parent.id });
          ctx.out.line(`nothing changed since snapshot ${parent.id.slice(0, 8)}: no snapshot written (--skip-if-unchanged)`);
          return;
        }
        const id = await archiver.finish(tree, snapPaths, { hostname: host, tags, excludes: patterns, parent: parent?.id, programVersion: `lifeboat ${VERSION}` });
        ctx.out.clearProgress();
        printSummary(ctx, archiver.summary, id, nowMs() - started, parent);
        if (archiver.summary.errors.length > 0) ctx.setExitCode(3);
      });
    });
}

async function backupStackCommand(ctx: CliContext, only?: string): Promise<void> {
  await withStack(ctx, async (stack, opts) => {
    const { backupStack } = await import('../../app/stack.ts');
    const names = only ? only.split(',').map((s) => s.trim()).filter(Boolean) : undefined;
    const report = await backupStack(stack, {
      ...opts,
      only: names,
      ...stackProgressOptions(ctx.out),
    });
    ctx.out.clearProgress();
    ctx.out.result(report);
    printResults(ctx, report.sources, 'backup');
    const failed = report.sources.filter((r) => r.status === 'failed');
    const skippedCount = report.sources.filter((r) => r.status === 'skipped').length;
    ctx.out.line(`${report.sources.filter((r) => r.status === 'ok').length}/${report.sources.length} sources backed up${skippedCount > 0 ? ` (${skippedCount} skipped)` : ''} in ${formatDuration(report.duration_ms)}; report in ${stack.loaded.stateDir}/reports`);
    for (const c of report.copies ?? []) {
      ctx.out.line(`copy to ${c.repository}: ${c.status}, ${c.copied} snapshot(s) copied${c.error ? ` — ${c.error}` : ''}`);
    }
    if (report.interrupted) {
      throw new CancelledError(`backup interrupted: ${report.sources.length - skippedCount - failed.length} source(s) backed up, ${skippedCount} skipped, ${failed.length} failed`, {
        hint: 'run "lifeboat backup" again to back up the skipped sources',
      });
    }
    if (failed.length > 0) {
      if (failed.length === report.sources.length) throw new LifeboatError('backup_failed', `backup failed for every source (${failed.map((f) => f.source).join(', ')})`, { hint: 'see the errors in the table above' });
      ctx.setExitCode(3);
    }
    // A failed offsite copy makes the run partial even when every source was backed up.
    if (report.status === 'partial') ctx.setExitCode(3);
  });
}

async function findParent(repo: import('../../repo/repository.ts').Repository, paths: string[], host: string | undefined, explicit?: string): Promise<Snapshot | undefined> {
  const all = await listSnapshots(repo, { onError: () => undefined });
  if (explicit) return all.find((s) => s.id.startsWith(explicit));
  const key = [...paths].sort().join('\0');
  const { hostname } = await import('node:os');
  const h = host ?? hostname();
  return all.filter((s) => s.hostname === h && [...s.paths].sort().join('\0') === key).at(-1);
}

function printSummary(ctx: CliContext, s: BackupSummary, id: string, ms: number, parent?: Snapshot): void {
  ctx.out.result({
    message_type: 'summary',
    snapshot_id: id,
    parent: parent?.id,
    files_new: s.filesNew,
    files_changed: s.filesChanged,
    files_unmodified: s.filesUnmodified,
    dirs: s.dirs,
    total_files_processed: s.totalFiles,
    total_bytes_processed: s.totalBytes,
    bytes_read: s.bytesRead,
    data_blobs: s.blobsAdded,
    data_added: s.bytesAdded,
    total_duration: ms / 1000,
    errors: s.errors,
  });
  for (const e of s.errors) ctx.out.warn(`${e.path}: ${e.message}`);
  if (parent) ctx.out.line(`using parent snapshot ${parent.id.slice(0, 8)}`);
  ctx.out.line(`Files:       ${s.filesNew} new, ${s.filesChanged} changed, ${s.filesUnmodified} unmodified`);
  ctx.out.line(`Dirs:        ${s.dirs}`);
  ctx.out.line(`Processed:   ${s.totalFiles} files, ${formatBytes(s.totalBytes)} in ${formatDuration(ms)}`);
  ctx.out.line(`Added to the repository: ${formatBytes(s.bytesAdded)} (${s.blobsAdded} new blobs)`);
  ctx.out.line(`snapshot ${id.slice(0, 8)} saved${s.errors.length > 0 ? ` (incomplete: ${s.errors.length} paths could not be read)` : ''}`);
}

/** Lines of list files (--files-from, --exclude-file): blank lines and # comments skipped, as restic. */
async function readListFiles(files: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const f of files) {
    let text: string;
    try {
      text = f === '-' ? await readStdin() : await readFile(f, 'utf8');
    } catch (err) {
      throw new UsageError(`cannot read ${f}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
    }
    for (const line of text.split(/\r?\n/)) {
      const t = line.trim();
      if (t !== '' && !t.startsWith('#')) out.push(t);
    }
  }
  return out;
}

async function readStdin(): Promise<string> {
  const parts: Buffer[] = [];
  for await (const b of process.stdin) parts.push(b as Buffer);
  return Buffer.concat(parts).toString('utf8');
}

/** $VAR and ${VAR} in exclude files, as restic expands them (os.ExpandEnv: unset is empty). */
function expandEnv(env: NodeJS.ProcessEnv): (s: string) => string {
  return (s) => s.replace(/\$\{(\w+)\}|\$(\w+)/g, (_m, a: string | undefined, b: string | undefined) => env[(a ?? b) as string] ?? '');
}

/** The cache directory tag (https://bford.info/cachedir/): a file that starts with this. */
const CACHEDIR_SIGNATURE = 'Signature: 8a477f597d28d172789f06886806bc55';

/**
 * The patterns plus restic's other exclusion rules. --one-file-system: an entry whose
 * directory is on another device than every backed-up path is left out (so a mount point
 * itself stays, empty, as restic keeps it). --exclude-caches: the entries of a directory
 * with a valid CACHEDIR.TAG are left out, except the tag.
 */
function excludeRules(patterns: ((p: string) => boolean) | undefined, paths: readonly string[], flags: BackupFlags): ((p: string, isDir: boolean) => boolean) | undefined {
  const devices = flags.oneFileSystem ? new Set(paths.map((p) => statSync(path.resolve(p)).dev)) : undefined;
  if (!patterns && !devices && !flags.excludeCaches) return undefined;
  const tagged = new Map<string, boolean>();
  const deviceOf = new Map<string, number>();
  const isCacheDir = (dir: string): boolean => {
    let v = tagged.get(dir);
    if (v === undefined) {
      v = false;
      try {
        const fd = openSync(path.join(dir, 'CACHEDIR.TAG'), 'r');
        try {
          const head = Buffer.alloc(CACHEDIR_SIGNATURE.length);
          v = readSync(fd, head, 0, head.length, 0) === head.length && head.toString('latin1') === CACHEDIR_SIGNATURE;
        } finally {
          closeSync(fd);
        }
      } catch {
        v = false; // no tag (or unreadable): not a cache directory
      }
      tagged.set(dir, v);
    }
    return v;
  };
  return (p) => {
    if (patterns?.(p)) return true;
    const dir = path.dirname(p);
    if (devices) {
      let dev = deviceOf.get(dir);
      if (dev === undefined) deviceOf.set(dir, (dev = statSync(dir).dev));
      if (!devices.has(dev)) return true;
    }
    return flags.excludeCaches === true && path.basename(p) !== 'CACHEDIR.TAG' && isCacheDir(dir);
  };
}

/** restic's RESTIC_READ_CONCURRENCY, when it is a positive whole number. */
function envConcurrency(v: string | undefined): number | undefined {
  const n = Number(v);
  return Number.isInteger(n) && n >= 1 ? n : undefined;
}
