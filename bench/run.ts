/**
 * `npm run bench`: lifeboat side by side with restic on the same corpus, same machine, same run.
 *
 * Each tool gets a fresh repository on local disk and runs the same steps in the same order:
 * first backup (directory, then the SQL dump as a stdin stream), a backup with nothing changed,
 * a backup after a deterministic ~2 % change, restore of the latest directory snapshot (checked
 * file by file against the source, because a benchmark of a broken restore is worthless) and of
 * the dump stream, and `check --read-data`. `gzip -6` of the dump runs beside them as the plain
 * "pg_dump | gzip" baseline. Every child is measured for wall time, CPU (user + sys) and peak RSS.
 * Once per run: five hourly dumps (repository growth), memory against input size (generated
 * streams of 256 MiB and 2 GiB backed up and dumped back, in fresh repositories), and profiles.
 *
 * Raw numbers go to bench/results/<date>.json; docs/performance.md is regenerated from them
 * (plus the hand-written analysis in bench/analysis.md) on a full run of all steps.
 *
 * Wall times on a shared machine drift by tens of percent over minutes, so a full run repeats
 * the main steps (--rounds, default 5; 1 with --quick), each round on fresh repositories and
 * with the other tool going first, and reports the median of each number; the hourly series
 * and the profiles run once.
 *
 * Options: --quick (a 10x smaller corpus, for iterating), --steps a,b (subset; steps that need
 * a first backup pull it in), --write-doc (also regenerate the doc from a quick/partial run),
 * --doc-from FILE (regenerate the doc from a saved results file, running nothing).
 */
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, statfsSync, symlinkSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { CORPUS_VERSION, applyChange, corpusSpec, generateDump, generateTree, generatedStream, listFiles } from './corpus.ts';
import type { CorpusSpec, DumpEdit } from './corpus.ts';
import { measure, measureMethod } from './measure.ts';
import type { RunOptions, Sample } from './measure.ts';
import { summarise } from './profile-summary.ts';
import type { ProfileSummary } from './profile-summary.ts';
import { ownedSections } from './doc-section.ts';
import { renderDoc } from './report.ts';
import { mergeRounds } from './report.ts';
import type { BenchResults, Entry, Row } from './report.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const WORK = path.join(ROOT, 'bench', 'work');
const NODE = process.execPath;
const RESTIC = '/usr/bin/restic';
const PASSWORD = 'bench-password-not-secret';
const DUMP_NAME = 'dump.sql';

export const ALL_STEPS = ['backup', 'nochange', 'change', 'restore', 'check', 'hourly', 'scaling', 'profile'] as const;
type Step = (typeof ALL_STEPS)[number];

const { values: opts } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    steps: { type: 'string' },
    'write-doc': { type: 'boolean', default: false },
    'doc-from': { type: 'string' },
    rev: { type: 'string' },
    rounds: { type: 'string' },
  },
});

/**
 * Which lifeboat to run: the working tree, or with --rev a committed revision exported by
 * `git archive` (read-only for git) into the system temp directory (outside the checkout, so
 * the type checker does not pick the copy up), so a bench is not disturbed by edits in
 * progress and names exactly what it measured.
 */
function lifeboatCheckout(rev: string | undefined): { root: string; rev: string } {
  const git = (...a: string[]): string => execFileSync('git', a, { cwd: ROOT, encoding: 'utf8' }).trim();
  if (rev === undefined) {
    let head = 'unknown';
    try {
      head = `${git('rev-parse', '--short', 'HEAD')}${git('status', '--porcelain', '--', 'src', 'bin') === '' ? '' : ' + uncommitted changes'}`;
    } catch {
      // not a git checkout
    }
    return { root: ROOT, rev: `working tree (${head})` };
  }
  const sha = git('rev-parse', '--short', `${rev}^{commit}`);
  const root = path.join(os.tmpdir(), `lifeboat-bench-${sha}`);
  if (!existsSync(path.join(root, 'bin', 'lifeboat.js'))) {
    rmSync(root, { recursive: true, force: true });
    mkdirSync(root, { recursive: true });
    execFileSync('sh', ['-c', `git archive ${sha} | tar -x -C "${root}"`], { cwd: ROOT });
    symlinkSync(path.join(ROOT, 'node_modules'), path.join(root, 'node_modules'));
  }
  return { root, rev: sha };
}

const CHECKOUT = lifeboatCheckout(opts.rev);
const LIFEBOAT = path.join(CHECKOUT.root, 'bin', 'lifeboat.js');

function log(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

// ---------------------------------------------------------------------------------------------
// Corpus on disk, generated once per (version, scale) and reused.

interface Corpus {
  readonly spec: CorpusSpec;
  readonly dir: string;
  readonly tree: string;
  readonly treeBytes: number;
  readonly treeFiles: number;
  dump(name: string, edits: readonly DumpEdit[]): string;
}

function dirBytes(dir: string): number {
  let n = 0;
  if (!existsSync(dir)) return 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) n += statSync(path.join(e.parentPath, e.name)).size;
  }
  return n;
}

function ensureCorpus(scale: number): Corpus {
  const spec = corpusSpec(scale);
  const dir = path.join(WORK, scale === 1 ? 'corpus' : `corpus-x${scale}`);
  const tree = path.join(dir, 'tree');
  const marker = path.join(dir, 'tree.done.json');
  const want = JSON.stringify({ version: CORPUS_VERSION, spec });
  if (!existsSync(marker) || readFileSync(marker, 'utf8') !== want) {
    log(`generating corpus tree in ${path.relative(ROOT, tree)} (once; reused by later runs)`);
    rmSync(dir, { recursive: true, force: true });
    generateTree(tree, spec);
    writeFileSync(marker, want);
  }
  const files = listFiles(tree);
  return {
    spec,
    dir,
    tree,
    treeBytes: dirBytes(tree),
    treeFiles: files.length,
    dump(name, edits) {
      const file = path.join(dir, name);
      const m = `${file}.done.json`;
      const w = JSON.stringify({ version: CORPUS_VERSION, spec, edits });
      if (!existsSync(m) || readFileSync(m, 'utf8') !== w) {
        log(`generating ${name}`);
        generateDump(file, spec, edits);
        writeFileSync(m, w);
      }
      return file;
    },
  };
}

function sha256File(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/** Path -> SHA-256 of every regular file under dir. */
function hashTree(dir: string): Map<string, string> {
  return new Map(listFiles(dir).map((p) => [p, sha256File(path.join(dir, p))]));
}

function compareTrees(want: Map<string, string>, gotDir: string): { ok: boolean; detail: string } {
  if (!existsSync(gotDir)) return { ok: false, detail: `restored tree ${gotDir} does not exist` };
  const got = hashTree(gotDir);
  const problems: string[] = [];
  for (const [p, h] of want) {
    const g = got.get(p);
    if (g === undefined) problems.push(`missing ${p}`);
    else if (g !== h) problems.push(`content differs ${p}`);
  }
  for (const p of got.keys()) if (!want.has(p)) problems.push(`extra ${p}`);
  return problems.length === 0
    ? { ok: true, detail: `${want.size} files, all SHA-256 equal` }
    : { ok: false, detail: `${problems.length} differences, e.g. ${problems.slice(0, 5).join('; ')}` };
}

/**
 * One untimed round of lifeboat on a scratch repository before anything is measured, so that
 * Node's compile cache holds every module the steps load (the main thread's and the codec
 * worker's), as it does on any machine after lifeboat's first run. Without it the first
 * measured command of each kind pays for type stripping and compiling (~17 MiB, ~0.2 s).
 */
function warmUp(run: string): void {
  const dir = path.join(run, 'warm-up');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'file.bin');
  writeFileSync(file, Buffer.alloc(1 << 20, 'warm up '));
  const repo = path.join(dir, 'repo');
  const env = { ...baseEnv(run), LIFEBOAT_PASSWORD: PASSWORD };
  const lb = (...args: string[]): string => execFileSync(NODE, [LIFEBOAT, '-r', repo, ...args], { env, encoding: 'utf8' });
  lb('init');
  lb('backup', file);
  lb('restore', 'latest', '--target', path.join(dir, 'restored'));
  lb('dump', 'latest', file);
  lb('check', '--read-data');
  lb('snapshots');
  rmSync(dir, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------------
// The two tools, as command lines.

interface Tool {
  readonly name: 'lifeboat' | 'restic';
  env(repo: string): NodeJS.ProcessEnv;
  argv(repo: string, args: readonly string[]): [string, string[]];
  readonly init: readonly string[];
}

function baseEnv(run: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('LIFEBOAT_') && !k.startsWith('RESTIC_')) env[k] = v;
  // Keep both tools away from the user's own config and state.
  env.XDG_CONFIG_HOME = path.join(run, 'home', 'config');
  env.XDG_STATE_HOME = path.join(run, 'home', 'state');
  env.XDG_CACHE_HOME = path.join(run, 'home', 'cache');
  return env;
}

function tools(run: string, nodeArgs: () => readonly string[]): Tool[] {
  return [
    {
      name: 'lifeboat',
      env: () => ({ ...baseEnv(run), LIFEBOAT_PASSWORD: PASSWORD }),
      argv: (repo, args) => [NODE, [...nodeArgs(), LIFEBOAT, '-r', repo, ...args]],
      init: ['init'],
    },
    {
      name: 'restic',
      // restic keeps its normal local cache, as users run it, in a directory of this run.
      env: (repo) => ({ ...baseEnv(run), RESTIC_PASSWORD: PASSWORD, RESTIC_CACHE_DIR: `${repo}-cache` }),
      argv: (repo, args) => [RESTIC, ['-r', repo, ...args]],
      init: ['init', '--repository-version', '2'],
    },
  ];
}

/** The summary line of `backup --json` (both tools print restic's summary shape). */
function summaryOf(stdout: string): Record<string, unknown> | undefined {
  for (const line of stdout.split('\n').reverse()) {
    if (!line.startsWith('{')) continue;
    try {
      const j = JSON.parse(line) as Record<string, unknown>;
      if (j.message_type === 'summary') return j;
    } catch {
      // progress lines cut mid-way are not summaries
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// The run.

class Bench {
  readonly rows: Row[] = [];
  readonly failures: string[] = [];
  readonly corpus: Corpus;
  readonly run: string;
  readonly src: string;
  readonly tools: Tool[];
  readonly snap = new Map<string, { dir?: string; dump?: string }>();
  #profileDir: string | undefined;
  lastDump = '';
  changeInfo: { bytesChanged: number; actions: string[] } | undefined;
  hourly: BenchResults['hourly'];
  scaling: BenchResults['scaling'];
  profiles: Record<string, ProfileSummary> = {};

  /** `resticFirst`: restic takes the first turn of every step (rounds alternate the order). */
  constructor(corpus: Corpus, run: string, resticFirst = false) {
    this.corpus = corpus;
    this.run = run;
    this.src = path.join(run, 'src');
    const all = tools(run, () => (this.#profileDir ? [`--cpu-prof`, `--cpu-prof-dir=${this.#profileDir}`] : []));
    this.tools = resticFirst ? [...all].reverse() : all;
  }

  repo(tool: Tool, kind = 'main'): string {
    return path.join(this.run, `${kind}-${tool.name}`);
  }

  async exec(tool: Tool, repo: string, args: readonly string[], ro: RunOptions = {}): Promise<{ s: Sample; entry: Entry }> {
    const [cmd, argv] = tool.argv(repo, args);
    const s = await measure(cmd, argv, { env: tool.env(repo), cwd: this.run, ...ro });
    const entry: Entry = { wallS: s.wallS, cpuS: s.cpuS, userS: s.userS, sysS: s.sysS, maxRssKiB: s.maxRssKiB, ok: s.exitCode === 0 };
    if (s.exitCode !== 0) {
      const shown = [tool.name, ...args].join(' ');
      const err = `${shown} (repository ${path.relative(ROOT, repo)}) exited ${s.exitCode}: ${s.stderrTail}`;
      entry.error = err;
      this.failures.push(err);
      log(`FAILED: ${err}`);
    }
    return { s, entry };
  }

  add(row: Row): void {
    this.rows.push(row);
    const cells = Object.entries(row.entries).map(([t, e]) => `${t} ${e.wallS.toFixed(1)}s/${e.cpuS.toFixed(1)}cpu/${Math.round(e.maxRssKiB / 1024)}MiB${e.ok ? '' : ' FAILED'}`);
    log(`${row.label}: ${cells.join(' | ')}`);
  }

  async init(kind: string): Promise<void> {
    const entries: Record<string, Entry> = {};
    for (const t of this.tools) {
      const repo = this.repo(t, kind);
      rmSync(repo, { recursive: true, force: true });
      rmSync(`${repo}-cache`, { recursive: true, force: true });
      entries[t.name] = (await this.exec(t, repo, t.init)).entry;
    }
    if (kind !== 'main') return;
    this.add({ id: 'init', step: 'backup', label: 'init (empty repository)', entries });
    // The fixed cost of every command: start, open the repository, list nothing.
    const start: Record<string, Entry> = {};
    for (const t of this.tools) start[t.name] = (await this.exec(t, this.repo(t), ['snapshots'])).entry;
    this.add({ id: 'startup', step: 'backup', label: 'startup: snapshots of the empty repository', entries: start });
  }

  async backupDir(id: string, step: Step, label: string): Promise<void> {
    const entries: Record<string, Entry> = {};
    for (const t of this.tools) {
      const repo = this.repo(t);
      const { s, entry } = await this.exec(t, repo, jsonBackup(t, [this.src]));
      const sum = summaryOf(s.stdout);
      if (entry.ok && sum) this.snap.set(t.name, { ...this.snap.get(t.name), dir: String(sum.snapshot_id) });
      entry.repoBytes = dirBytes(repo);
      entry.summary = pickSummary(sum);
      entries[t.name] = entry;
    }
    this.add({ id, step, label, entries });
  }

  async backupDump(id: string, step: Step, label: string, dumpFile: string, gzipToo: boolean): Promise<void> {
    const entries: Record<string, Entry> = {};
    for (const t of this.tools) {
      const repo = this.repo(t);
      const { s, entry } = await this.exec(t, repo, jsonBackup(t, STDIN_ARGS), { stdinFile: dumpFile });
      const sum = summaryOf(s.stdout);
      if (entry.ok && sum) this.snap.set(t.name, { ...this.snap.get(t.name), dump: String(sum.snapshot_id) });
      entry.repoBytes = dirBytes(repo);
      entry.summary = pickSummary(sum);
      entries[t.name] = entry;
    }
    if (gzipToo) entries.gzip = await this.gzip(dumpFile, path.join(this.run, `${id}.sql.gz`));
    this.lastDump = dumpFile;
    this.add({ id, step, label, entries });
  }

  async gzip(input: string, output: string): Promise<Entry> {
    const s = await measure('gzip', ['-6'], { stdinFile: input, stdout: { file: output } });
    return { wallS: s.wallS, cpuS: s.cpuS, userS: s.userS, sysS: s.sysS, maxRssKiB: s.maxRssKiB, ok: s.exitCode === 0, outputBytes: statSync(output).size };
  }

  async stepBackup(): Promise<void> {
    log(`copying corpus tree to ${path.relative(ROOT, this.src)}`);
    rmSync(this.src, { recursive: true, force: true });
    cpSync(this.corpus.tree, this.src, { recursive: true, preserveTimestamps: true });
    await this.init('main');
    await this.backupDir('backup-dir', 'backup', 'first backup: directory');
    await this.backupDump('backup-dump', 'backup', 'first backup: dump stream (stdin)', this.corpus.dump('dump-base.sql', []), true);
  }

  async stepNoChange(): Promise<void> {
    await this.backupDir('nochange-dir', 'nochange', 'no-change backup: directory');
    await this.backupDump('nochange-dump', 'nochange', 'same dump again (stdin)', this.corpus.dump('dump-base.sql', []), false);
  }

  async stepChange(): Promise<void> {
    const dump = this.corpus.dump('dump-change.sql', [{ seed: 100, fraction: 0.02 }]);
    this.changeInfo = applyChange(this.src, this.corpus.spec);
    log(`applied change: ${this.changeInfo.actions.join('; ')}`);
    await this.backupDir('change-dir', 'change', 'backup after 2 % change: directory');
    await this.backupDump('change-dump', 'change', 'dump with 2 % of rows edited (stdin)', dump, true);
  }

  async stepRestore(): Promise<void> {
    const want = hashTree(this.src);
    const entries: Record<string, Entry> = {};
    for (const t of this.tools) {
      const target = path.join(this.run, `restore-${t.name}`);
      const id = this.snap.get(t.name)?.dir ?? 'latest';
      const { entry } = await this.exec(t, this.repo(t), ['restore', id, '--target', target]);
      // Both tools restore a snapshot of /a/b under TARGET/a/b.
      const v = compareTrees(want, path.join(target, this.src));
      entry.verified = v;
      if (!v.ok) {
        this.failures.push(`${t.name} restore ${id}: ${v.detail}`);
        log(`VERIFY FAILED: ${t.name}: ${v.detail}`);
      }
      entries[t.name] = entry;
    }
    this.add({ id: 'restore-dir', step: 'restore', label: 'restore latest directory snapshot', entries });
    // The dump stream back to stdout (`dump SNAPSHOT /dump.sql`), hashed against the source.
    const wantDump = sha256File(this.lastDump);
    const dumpEntries: Record<string, Entry> = {};
    for (const t of this.tools) {
      const id = this.snap.get(t.name)?.dump ?? 'latest';
      const { s, entry } = await this.exec(t, this.repo(t), ['dump', id, `/${DUMP_NAME}`], { stdout: 'hash' });
      entry.verified = s.stdoutSha256 === wantDump ? { ok: true, detail: `${s.stdoutBytes} bytes, SHA-256 equal` } : { ok: false, detail: `SHA-256 differs (${s.stdoutBytes} bytes)` };
      if (!entry.verified.ok) this.failures.push(`${t.name} dump ${id}: ${entry.verified.detail}`);
      dumpEntries[t.name] = entry;
    }
    const gz = path.join(this.run, 'change-dump.sql.gz');
    if (existsSync(gz)) {
      const s = await measure('gzip', ['-dc'], { stdinFile: gz, stdout: 'hash' });
      dumpEntries.gzip = { wallS: s.wallS, cpuS: s.cpuS, userS: s.userS, sysS: s.sysS, maxRssKiB: s.maxRssKiB, ok: s.exitCode === 0 && s.stdoutSha256 === wantDump };
    }
    this.add({ id: 'restore-dump', step: 'restore', label: 'restore dump stream to stdout (dump)', entries: dumpEntries });
  }

  async stepCheck(): Promise<void> {
    const entries: Record<string, Entry> = {};
    for (const t of this.tools) entries[t.name] = (await this.exec(t, this.repo(t), ['check', '--read-data'])).entry;
    this.add({ id: 'check', step: 'check', label: 'check --read-data', entries });
  }

  /** Five hourly dumps, each with 0.5 % of rows edited since the hour before, in fresh repos. */
  async stepHourly(): Promise<void> {
    await this.init('hourly');
    const hours: NonNullable<BenchResults['hourly']>['hours'] = [];
    const edits: DumpEdit[] = [];
    for (let h = 0; h < 5; h++) {
      if (h > 0) edits.push({ seed: 200 + h, fraction: 0.005 });
      const file = this.corpus.dump(h === 0 ? 'dump-base.sql' : `dump-hour${h}.sql`, [...edits]);
      const hour: Record<string, Entry> = {};
      for (const t of this.tools) {
        const repo = this.repo(t, 'hourly');
        const { entry } = await this.exec(t, repo, jsonBackup(t, STDIN_ARGS), { stdinFile: file });
        entry.repoBytes = dirBytes(repo);
        hour[t.name] = entry;
      }
      hour.gzip = await this.gzip(file, path.join(this.run, 'hourly.sql.gz'));
      hours.push({ dumpBytes: statSync(file).size, entries: hour });
      log(`hourly dump ${h}: lifeboat repo ${mb(hour.lifeboat.repoBytes)} MB, restic repo ${mb(hour.restic.repoBytes)} MB, gzip ${mb(hour.gzip.outputBytes)} MB`);
    }
    this.hourly = { hours };
  }

  /**
   * Peak memory against input size: generated streams of each size (see generatedStream),
   * each backed up into a fresh repository and dumped back to stdout (its SHA-256 compared).
   * The repositories are removed as soon as they are measured.
   */
  async stepScaling(sizes: readonly number[]): Promise<void> {
    const streams: NonNullable<BenchResults['scaling']>['streams'] = [];
    for (const bytes of sizes) {
      const backup: Record<string, Entry> = {};
      const dump: Record<string, Entry> = {};
      for (const t of this.tools) {
        const repo = this.repo(t, `scaling-${bytes}`);
        const clean = (): void => {
          rmSync(repo, { recursive: true, force: true });
          rmSync(`${repo}-cache`, { recursive: true, force: true });
        };
        clean();
        await this.exec(t, repo, t.init);
        let want = '';
        const b = await this.exec(t, repo, jsonBackup(t, STDIN_ARGS), { stdinStream: () => generatedStream(bytes, (h) => (want = h)) });
        b.entry.repoBytes = dirBytes(repo);
        backup[t.name] = b.entry;
        const { s, entry } = await this.exec(t, repo, ['dump', 'latest', `/${DUMP_NAME}`], { stdout: 'hash' });
        entry.verified = s.stdoutSha256 === want ? { ok: true, detail: `${s.stdoutBytes} bytes, SHA-256 equal` } : { ok: false, detail: `SHA-256 differs (${s.stdoutBytes} bytes)` };
        if (!entry.verified.ok) this.failures.push(`${t.name} dump of the ${mb(bytes)} MB stream: ${entry.verified.detail}`);
        dump[t.name] = entry;
        clean();
      }
      streams.push({ bytes, backup, dump });
      log(`stream of ${mb(bytes)} MB: ${this.tools.map((t) => `${t.name} backup ${Math.round(backup[t.name].maxRssKiB / 1024)} MiB, dump ${Math.round(dump[t.name].maxRssKiB / 1024)} MiB`).join(' | ')}`);
    }
    this.scaling = { streams };
  }

  /** lifeboat's first backups, restore and check again in a fresh repository, under `node --cpu-prof`. */
  async stepProfile(): Promise<void> {
    const lb = this.tools.find((t) => t.name === 'lifeboat') as Tool;
    const repo = this.repo(lb, 'profile');
    const target = path.join(this.run, 'restore-profile');
    rmSync(repo, { recursive: true, force: true });
    await this.exec(lb, repo, ['init']);
    let dirSnap = 'latest';
    const profiled = async (name: string, args: readonly string[], ro: RunOptions = {}): Promise<Sample> => {
      const dir = path.join(this.run, 'profiles', name);
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { recursive: true });
      this.#profileDir = dir;
      try {
        const { s, entry } = await this.exec(lb, repo, args, ro);
        this.profiles[name] = { ...summarise([dir]), wallS: entry.wallS, cpuS: entry.cpuS };
        log(`profile ${name}: top ${this.profiles[name].functions.slice(0, 3).map((f) => f.name).join(', ')}`);
        return s;
      } finally {
        this.#profileDir = undefined;
      }
    };
    const s = await profiled('backup-dir', ['--json', 'backup', this.src]);
    dirSnap = String(summaryOf(s.stdout)?.snapshot_id ?? 'latest');
    await profiled('backup-dump', ['backup', ...STDIN_ARGS], { stdinFile: this.corpus.dump('dump-base.sql', []) });
    rmSync(target, { recursive: true, force: true });
    await profiled('restore-dir', ['restore', dirSnap, '--target', target]);
    await profiled('check', ['check', '--read-data']);
  }
}

const STDIN_ARGS = ['--stdin', '--stdin-filename', DUMP_NAME];
/** The generated streams of the memory-versus-size step: a small one and one 8 times larger. */
const SCALING_SIZES = { full: [256 * 2 ** 20, 2 * 2 ** 30], quick: [32 * 2 ** 20, 256 * 2 ** 20] } as const;

/** `backup ARGS` with one JSON summary line: a global flag for lifeboat, a command flag for restic. */
function jsonBackup(t: Tool, args: readonly string[]): string[] {
  return t.name === 'lifeboat' ? ['--json', 'backup', ...args] : ['backup', '--json', ...args];
}

function pickSummary(sum: Record<string, unknown> | undefined): Record<string, number> | undefined {
  if (!sum) return undefined;
  const out: Record<string, number> = {};
  for (const k of ['files_new', 'files_changed', 'files_unmodified', 'total_bytes_processed', 'data_added', 'data_blobs', 'tree_blobs']) {
    if (typeof sum[k] === 'number') out[k] = sum[k] as number;
  }
  return out;
}

function mb(n: number | undefined): string {
  return n === undefined ? '-' : (n / 1e6).toFixed(1);
}

function versionOf(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8' }).trim().split('\n')[0];
  } catch {
    return 'unknown';
  }
}

function machine(): BenchResults['machine'] {
  return {
    nproc: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    restic: versionOf(RESTIC, ['version']),
    lifeboat: `${versionOf(NODE, [LIFEBOAT, '--version'])}, ${CHECKOUT.rev}`,
    gzip: versionOf('gzip', ['--version']),
    measuredWith: measureMethod,
  };
}

function selectSteps(spec: string | undefined): Step[] {
  if (spec === undefined) return [...ALL_STEPS];
  const want = new Set(spec.split(',').map((s) => s.trim()).filter(Boolean));
  for (const s of want) if (!(ALL_STEPS as readonly string[]).includes(s)) throw new Error(`unknown step "${s}"; steps are ${ALL_STEPS.join(', ')}`);
  // Everything but the hourly series and the stream sizes works on the repositories of the
  // first backup.
  if ([...want].some((s) => s !== 'hourly' && s !== 'scaling')) want.add('backup');
  return ALL_STEPS.filter((s) => want.has(s));
}

async function main(): Promise<void> {
  const docPath = path.join(ROOT, 'docs', 'performance.md');
  const analysisPath = path.join(ROOT, 'bench', 'analysis.md');
  const analysis = (): string => (existsSync(analysisPath) ? readFileSync(analysisPath, 'utf8') : '');
  // The stack and scale benches' sections (bench/doc-section.ts) survive a regeneration.
  const withOwned = (doc: string): string => {
    const kept = existsSync(docPath) ? ownedSections(readFileSync(docPath, 'utf8')) : '';
    return kept === '' ? doc : `${doc.trimEnd()}\n\n${kept}`;
  };
  if (opts['doc-from'] !== undefined) {
    const res = JSON.parse(readFileSync(opts['doc-from'], 'utf8')) as BenchResults;
    writeFileSync(docPath, withOwned(renderDoc(res, analysis(), path.relative(ROOT, path.resolve(opts['doc-from'])))));
    log(`wrote ${path.relative(ROOT, docPath)}`);
    return;
  }
  const steps = selectSteps(opts.steps);
  const scale = opts.quick ? 0.1 : 1;
  const started = new Date();
  const corpus = ensureCorpus(scale);
  const run = path.join(WORK, scale === 1 ? 'run' : `run-x${scale}`);
  // Five rounds: on a shared VM one step can take 1.8 s in one round and 3.1 s in the next; the
  // median of three moved rows by 10-20 % from run to run.
  const rounds = Math.max(1, Number(opts.rounds ?? (opts.quick ? 1 : 5)));
  log(`steps ${steps.join(', ')}; ${rounds} round(s); corpus ${mb(corpus.treeBytes)} MB in ${corpus.treeFiles} files`);
  const t0 = performance.now();
  const benches: Bench[] = [];
  // Nothing a round makes is deleted before the whole run is over. On this VM's ext4 (no
  // journal) creating a file skips every inode freed in the last seconds to minutes, one by
  // one: the first restore after thousands of deletions paid for them (measured: the same
  // restore took 1.5 s of kernel time into a quiet file system, 4.5-6.7 s right after the
  // previous round's trees were removed, whichever tool it was).
  if (existsSync(run)) log(`removing ${path.relative(ROOT, run)} left by an earlier run`);
  rmSync(run, { recursive: true, force: true });
  // Each round keeps a copy of the tree, both repositories and both restored trees: about 2.9 GB
  // at full scale (from the repository sizes of the 10:22 run), and the first round ~1 GB more
  // (the hourly series and the profiles). Refuse before starting rather than fail half way.
  const need = rounds * 5 * corpus.treeBytes + 2e9 + (steps.includes('scaling') ? 1.3 * SCALING_SIZES[scale === 1 ? 'full' : 'quick'][1] : 0);
  const fsInfo = statfsSync(WORK);
  const free = fsInfo.bavail * fsInfo.bsize;
  if (free < need) {
    throw new Error(`the bench needs about ${(need / 1e9).toFixed(1)} GB free under ${path.relative(ROOT, WORK)} for ${rounds} round(s), ` +
      `and ${(free / 1e9).toFixed(1)} GB are; free some space or run fewer rounds (--rounds 1)`);
  }
  for (let round = 0; round < rounds; round++) {
    const roundDir = path.join(run, `round-${round + 1}`);
    mkdirSync(roundDir, { recursive: true });
    if (round === 0) warmUp(roundDir);
    // The tools take turns going first: the one that runs second in a step finds the file
    // system and the page cache as the first left them.
    const b = new Bench(corpus, roundDir, round % 2 === 1);
    benches.push(b);
    const table: Record<Step, () => Promise<void>> = {
      backup: () => b.stepBackup(),
      nochange: () => b.stepNoChange(),
      change: () => b.stepChange(),
      restore: () => b.stepRestore(),
      check: () => b.stepCheck(),
      hourly: () => b.stepHourly(),
      scaling: () => b.stepScaling(SCALING_SIZES[scale === 1 ? 'full' : 'quick']),
      profile: () => b.stepProfile(),
    };
    for (const s of steps) {
      // The hourly series, the stream sizes and the profiles are not timed comparisons: once
      // is enough.
      if (round > 0 && (s === 'hourly' || s === 'scaling' || s === 'profile')) continue;
      log(`round ${round + 1}/${rounds}: step ${s}`);
      await table[s]();
    }
  }
  const b = benches[0] as Bench;
  const failures = benches.flatMap((x) => x.failures);
  const results: BenchResults = {
    date: started.toISOString(),
    quick: opts.quick ?? false,
    steps,
    machine: machine(),
    corpus: {
      scale,
      spec: corpus.spec,
      treeBytes: corpus.treeBytes,
      treeFiles: corpus.treeFiles,
      dumpBytes: statSync(corpus.dump('dump-base.sql', [])).size,
      change: b.changeInfo,
    },
    rows: mergeRounds(benches.map((x) => x.rows)),
    hourly: b.hourly,
    scaling: b.scaling,
    profiles: b.profiles,
    failures,
    benchSeconds: Math.round((performance.now() - t0) / 1000),
    rounds,
  };
  const resultsDir = path.join(ROOT, 'bench', 'results');
  mkdirSync(resultsDir, { recursive: true });
  const file = path.join(resultsDir, `${started.toISOString().slice(0, 10)}${opts.quick ? '-quick' : ''}.json`);
  writeFileSync(file, JSON.stringify(results, null, 2) + '\n');
  log(`wrote ${path.relative(ROOT, file)}`);
  const full = !opts.quick && steps.length === ALL_STEPS.length;
  if (full || opts['write-doc']) {
    writeFileSync(docPath, withOwned(renderDoc(results, analysis(), path.relative(ROOT, file))));
    log(`wrote ${path.relative(ROOT, docPath)}`);
  }
  // Removed now rather than at the start of the next run, so that run finds a quiet file system.
  rmSync(run, { recursive: true, force: true });
  if (failures.length > 0) {
    log(`${failures.length} failure(s):\n  ${failures.join('\n  ')}`);
    process.exitCode = 1;
  }
}

await main();
