/**
 * `npm run bench:scale`: lifeboat and restic at scale, same data, same run, interleaved.
 *
 * Files: a tree of small files (BENCH_SCALE_FILES, default 1,000,000: 1000 per directory,
 * 200 B to 4 KiB of text each), generated once into ~/.cache/lifeboat-bench/ (outside the
 * clone) and reused. For each size of BENCH_SCALE_SIZES (default a quarter and all of the
 * files), each tool in a fresh repository: first backup, no-change backup, restore into an
 * empty directory (file count and a sample of contents checked), `check`, then a backup that
 * leaves a tenth of the directories out, `forget --keep-last 1` and the timed `prune`.
 *
 * Dumps: BENCH_SCALE_DUMP_GB (default 100) GB of dumps, BENCH_SCALE_DUMP_MB (default 1024) MB
 * each, every one unique (AES-CTR keystream, half of each MiB hex text so it compresses like
 * a dump), backed up one by one as stdin snapshots; then `check`, `dump` of the last one
 * (SHA-256 compared), forget of the older half and prune. Peak RSS of each backup against
 * the repository size so far gives each tool's memory slope.
 *
 * Every child is measured for wall, CPU and peak RSS (bench/measure.ts). Raw numbers go to
 * bench/results/scale-<date>.json and the tables to docs/performance.md (section "scale"),
 * followed by the hand-written bench/scale-notes.md; --no-doc leaves the page alone, --doc-from
 * FILE rewrites the section from saved results.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { Rng } from './corpus.ts';
import { writeSection } from './doc-section.ts';
import { measure, measureMethod } from './measure.ts';
import type { RunOptions, Sample } from './measure.ts';
import { RESTIC, dirBytes, envNumber, log, shOk, uptime } from './stack-servers.ts';

const { values: opts } = parseArgs({ options: { 'no-doc': { type: 'boolean', default: false }, 'doc-from': { type: 'string' }, 'skip-files': { type: 'boolean', default: false }, 'skip-dumps': { type: 'boolean', default: false } } });
const ROOT = path.resolve(import.meta.dirname, '..');
const LIFEBOAT = path.join(ROOT, 'bin', 'lifeboat.js');
const PASSWORD = 'bench-password-not-secret';
const FILES = Math.round(envNumber('BENCH_SCALE_FILES', 1_000_000));
const PER_DIR = 1000;
const SIZES = (process.env.BENCH_SCALE_SIZES ?? `${Math.round(FILES / 4)},${FILES}`).split(',').map((x) => Math.round(Number(x)));
const DUMP_GB = envNumber('BENCH_SCALE_DUMP_GB', 100);
const DUMP_MB = envNumber('BENCH_SCALE_DUMP_MB', 1024);
const CACHE = path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'lifeboat-bench');
const TREE_VERSION = 1;

type ToolName = 'lifeboat' | 'restic';
interface Cell { wallS: number; cpuS: number; maxRssKiB: number; ok: boolean; repoBytes?: number; note?: string }
type Row = { label: string; size: number } & Partial<Record<ToolName, Cell>>;

/** The tree of small files, generated once per (version, count) and reused. */
function ensureTree(): string {
  const dir = path.join(CACHE, `files-${FILES}-v${TREE_VERSION}`);
  const marker = `${dir}.done`;
  if (existsSync(marker)) return dir;
  log(`generating ${FILES} files in ${dir} (once; reused by later runs)`);
  rmSync(dir, { recursive: true, force: true });
  const rng = new Rng(42);
  const words = ['user', 'order', 'session', 'config', 'value', 'true', 'false', 'null', 'id', 'name', 'created', 'updated', 'status', 'ok'];
  for (let d = 0; d * PER_DIR < FILES; d++) {
    const sub = path.join(dir, `d${String(d).padStart(4, '0')}`);
    mkdirSync(sub, { recursive: true });
    for (let f = 0; f < PER_DIR && d * PER_DIR + f < FILES; f++) {
      const n = 200 + Math.floor(rng.next() * 3900);
      let s = `# file ${d}/${f} ${rng.next().toString(36).slice(2)}\n`;
      while (s.length < n) s += `${words[Math.floor(rng.next() * words.length)]}=${Math.floor(rng.next() * 1e9).toString(36)}\n`;
      writeFileSync(path.join(sub, `f${String(f).padStart(4, '0')}.txt`), s.slice(0, n));
    }
  }
  writeFileSync(marker, new Date().toISOString());
  return dir;
}

/** Dump number `k`: unique bytes, alternately keystream and its hex text, in 1 MiB blocks. */
function dumpStream(k: number, bytes: number, onEnd: (sha: string) => void): Readable {
  const BLOCK = 1 << 20;
  const key = createHash('sha256').update(`dump ${k}`).digest();
  const ks = createCipheriv('aes-256-ctr', key, Buffer.alloc(16, 0));
  const zeros = Buffer.alloc(BLOCK);
  const hash = createHash('sha256');
  return Readable.from((function* () {
    for (let at = 0, i = 0; at < bytes; at += BLOCK, i++) {
      const n = Math.min(BLOCK, bytes - at);
      const block = i % 2 === 0 ? ks.update(zeros.subarray(0, n)) : Buffer.from(ks.update(zeros.subarray(0, Math.ceil(n / 2))).toString('hex').slice(0, n));
      hash.update(block);
      yield block;
    }
    onEnd(hash.digest('hex'));
  })(), { objectMode: false });
}

class Runner {
  readonly rows: Row[] = [];
  readonly failures: string[] = [];
  readonly run: string;
  constructor(run: string) {
    this.run = run;
  }

  env(tool: ToolName, repo: string): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('LIFEBOAT_') && !k.startsWith('RESTIC_')) env[k] = v;
    env.XDG_CONFIG_HOME = path.join(this.run, 'home', 'config');
    env.XDG_STATE_HOME = path.join(this.run, 'home', 'state');
    env.XDG_CACHE_HOME = path.join(this.run, 'home', 'cache');
    if (tool === 'lifeboat') env.LIFEBOAT_PASSWORD = PASSWORD;
    else Object.assign(env, { RESTIC_PASSWORD: PASSWORD, RESTIC_CACHE_DIR: `${repo}-cache` });
    return env;
  }

  async exec(tool: ToolName, repo: string, args: readonly string[], ro: RunOptions = {}): Promise<Sample> {
    const [cmd, argv] = tool === 'lifeboat' ? [process.execPath, [LIFEBOAT, '-r', repo, ...args]] : [RESTIC, ['-r', repo, ...args]];
    const s = await measure(cmd, argv, { env: this.env(tool, repo), cwd: this.run, ...ro });
    if (s.exitCode !== 0) this.failures.push(`${tool} ${args.slice(0, 3).join(' ')} exited ${s.exitCode}: ${s.stderrTail}`);
    return s;
  }

  /** Runs `step` for both tools (order alternating by row) and records one row. */
  async both(label: string, size: number, step: (tool: ToolName) => Promise<Cell>): Promise<void> {
    const order: ToolName[] = this.rows.length % 2 === 0 ? ['lifeboat', 'restic'] : ['restic', 'lifeboat'];
    const row: Row = { label, size };
    for (const t of order) row[t] = await step(t);
    this.rows.push(row);
    const c = (t: ToolName): string => `${t} ${row[t]?.wallS.toFixed(1)} s ${Math.round((row[t]?.maxRssKiB ?? 0) / 1024)} MiB${row[t]?.ok ? '' : ' FAILED'}`;
    log(`${label} [${size}]: ${c('lifeboat')} | ${c('restic')}; ${uptime()}`);
  }
}

const cell = (s: Sample, extra: Partial<Cell> = {}): Cell => ({ wallS: s.wallS, cpuS: s.cpuS, maxRssKiB: s.maxRssKiB, ok: s.exitCode === 0, ...extra });

async function filesAtSize(r: Runner, tree: string, wanted: number): Promise<void> {
  // Whole directories: the size is rounded up to the next thousand files.
  const dirs = readdirSync(tree).sort().slice(0, Math.ceil(wanted / PER_DIR)).map((d) => path.join(tree, d));
  const size = Math.min(FILES, dirs.length * PER_DIR);
  const repo = (t: ToolName): string => path.join(r.run, `files-${size}-${t}`);
  const init = (t: ToolName): string[] => (t === 'lifeboat' ? ['init'] : ['init', '--repository-version', '2']);
  await r.both('init', size, async (t) => cell(await r.exec(t, repo(t), init(t))));
  await r.both('first backup', size, async (t) => {
    const s = await r.exec(t, repo(t), ['backup', ...dirs]);
    return cell(s, { repoBytes: dirBytes(repo(t)) });
  });
  await r.both('no-change backup', size, async (t) => cell(await r.exec(t, repo(t), ['backup', ...dirs])));
  await r.both('restore', size, async (t) => {
    const target = path.join(r.run, `restore-${size}-${t}`);
    const s = await r.exec(t, repo(t), ['restore', 'latest', '--target', target]);
    // Count every restored file and compare a sample (every 997th) byte for byte.
    const got = path.join(target, dirs[0] as string, '..');
    let count = 0;
    let bad = 0;
    for (const d of dirs) {
      const names = readdirSync(path.join(got, path.basename(d)));
      count += names.length;
      for (let i = 0; i < names.length; i += 997) {
        const n = names[i] as string;
        if (!readFileSync(path.join(d, n)).equals(readFileSync(path.join(got, path.basename(d), n)))) bad++;
      }
    }
    const ok = count === size && bad === 0;
    if (!ok) r.failures.push(`${t} restore of ${size} files: ${count} files restored, ${bad} sampled files differ`);
    return cell(s, { ok: s.exitCode === 0 && ok, note: `${count} files, sample ${bad === 0 ? 'equal' : `${bad} differ`}` });
  });
  await r.both('check', size, async (t) => cell(await r.exec(t, repo(t), ['check'])));
  await r.both('backup without a tenth of the directories', size, async (t) => cell(await r.exec(t, repo(t), ['backup', '--exclude', '*/d???0', ...dirs])));
  await r.both('forget --keep-last 1', size, async (t) => cell(await r.exec(t, repo(t), ['forget', '--keep-last', '1'])));
  await r.both('prune', size, async (t) => {
    const s = await r.exec(t, repo(t), ['prune']);
    return cell(s, { repoBytes: dirBytes(repo(t)) });
  });
  for (const t of ['lifeboat', 'restic'] as const) {
    rmSync(path.join(r.run, `restore-${size}-${t}`), { recursive: true, force: true });
    rmSync(repo(t), { recursive: true, force: true });
    rmSync(`${repo(t)}-cache`, { recursive: true, force: true });
  }
}

async function dumps(r: Runner): Promise<{ count: number; bytes: number; perDump: { k: number; repoBytes: Record<ToolName, number>; rssKiB: Record<ToolName, number>; wallS: Record<ToolName, number> }[] }> {
  const bytes = Math.round(DUMP_MB * 2 ** 20);
  const count = Math.max(2, Math.round((DUMP_GB * 1e9) / bytes));
  const repo = (t: ToolName): string => path.join(r.run, `dumps-${t}`);
  const perDump: Awaited<ReturnType<typeof dumps>>['perDump'] = [];
  await r.both('init', 0, async (t) => cell(await r.exec(t, repo(t), t === 'lifeboat' ? ['init'] : ['init', '--repository-version', '2'])));
  let lastSha = '';
  for (let k = 0; k < count; k++) {
    const row = { k, repoBytes: {} as Record<ToolName, number>, rssKiB: {} as Record<ToolName, number>, wallS: {} as Record<ToolName, number> };
    for (const t of (k % 2 === 0 ? ['lifeboat', 'restic'] : ['restic', 'lifeboat']) as ToolName[]) {
      const s = await r.exec(t, repo(t), ['backup', '--stdin', '--stdin-filename', 'dump.sql'], { stdinStream: () => dumpStream(k, bytes, (h) => (lastSha = h)) });
      row.repoBytes[t] = dirBytes(repo(t));
      row.rssKiB[t] = s.maxRssKiB;
      row.wallS[t] = s.wallS;
    }
    perDump.push(row);
    log(`dump ${k + 1}/${count}: lifeboat ${row.wallS.lifeboat.toFixed(1)} s ${Math.round(row.rssKiB.lifeboat / 1024)} MiB, restic ${row.wallS.restic.toFixed(1)} s ${Math.round(row.rssKiB.restic / 1024)} MiB; repos ${(row.repoBytes.lifeboat / 1e9).toFixed(1)} / ${(row.repoBytes.restic / 1e9).toFixed(1)} GB; ${uptime()}`);
  }
  const size = count;
  await r.both('dumps: no-change snapshots list', size, async (t) => cell(await r.exec(t, repo(t), ['snapshots'])));
  await r.both('dumps: restore the last dump (dump to stdout)', size, async (t) => {
    const s = await r.exec(t, repo(t), ['dump', 'latest', '/dump.sql'], { stdout: 'hash' });
    const ok = s.stdoutSha256 === lastSha;
    if (!ok) r.failures.push(`${t} dump of the last dump: SHA-256 differs (${s.stdoutBytes} bytes)`);
    return cell(s, { ok: s.exitCode === 0 && ok, note: ok ? 'SHA-256 equal' : 'SHA-256 DIFFERS' });
  });
  await r.both('dumps: check', size, async (t) => cell(await r.exec(t, repo(t), ['check'])));
  await r.both('dumps: forget the older half', size, async (t) => cell(await r.exec(t, repo(t), ['forget', '--keep-last', String(Math.ceil(count / 2))])));
  await r.both('dumps: prune', size, async (t) => {
    const s = await r.exec(t, repo(t), ['prune']);
    return cell(s, { repoBytes: dirBytes(repo(t)) });
  });
  for (const t of ['lifeboat', 'restic'] as const) {
    rmSync(repo(t), { recursive: true, force: true });
    rmSync(`${repo(t)}-cache`, { recursive: true, force: true });
  }
  return { count, bytes, perDump };
}

/** Least-squares slope of y over x. */
export function slope(xs: readonly number[], ys: readonly number[]): number {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  const num = xs.reduce((a, x, i) => a + (x - mx) * ((ys[i] as number) - my), 0);
  const den = xs.reduce((a, x) => a + (x - mx) ** 2, 0);
  return den === 0 ? 0 : num / den;
}

/** Peak-RSS slopes against repository size, with the end points they were fitted between. */
function computeSlopes(allRows: readonly Row[], d: ScaleResults['dumps']): ScaleResults['slopes'] {
  const slopes: ScaleResults['slopes'] = [];
  for (const label of ['first backup', 'no-change backup', 'restore', 'check', 'prune']) {
    const rows = allRows.filter((x) => x.label === label && x.size > 0);
    if (rows.length < 2) continue;
    const xs = rows.map((x) => x.size / 1e6);
    const fit = (t: ToolName): number => slope(xs, rows.map((x) => (x[t]?.maxRssKiB ?? 0) / 1024));
    const ends = (t: ToolName): [number, number] => [(rows[0]?.[t]?.maxRssKiB ?? 0) / 1024, (rows.at(-1)?.[t]?.maxRssKiB ?? 0) / 1024];
    slopes.push({ what: `${label}, per million files`, lifeboat: fit('lifeboat'), restic: fit('restic'), from: xs[0], to: xs.at(-1), at: { lifeboat: ends('lifeboat'), restic: ends('restic') }, target: 1, unit: 'M files' });
  }
  if (d && d.perDump.length >= 2) {
    const fit = (t: ToolName): number => slope(d.perDump.map((p) => p.repoBytes[t] / 1e9), d.perDump.map((p) => p.rssKiB[t] / 1024));
    const first = d.perDump[0];
    const lastDump = d.perDump.at(-1);
    const ends = (t: ToolName): [number, number] => [(first?.rssKiB[t] ?? 0) / 1024, (lastDump?.rssKiB[t] ?? 0) / 1024];
    slopes.push({ what: 'dump backup, per GB already in the repository', lifeboat: fit('lifeboat'), restic: fit('restic'), from: (first?.repoBytes.lifeboat ?? 0) / 1e9, to: (lastDump?.repoBytes.lifeboat ?? 0) / 1e9, at: { lifeboat: ends('lifeboat'), restic: ends('restic') }, target: 100, unit: 'GB' });
  }
  return slopes;
}

function render(res: ScaleResults, resultsFile: string, notes: string): string {
  const f1 = (n: number): string => (n < 10 ? n.toFixed(2) : n.toFixed(1));
  const x = (a?: number, b?: number): string => (a !== undefined && b !== undefined && b > 0 ? `${(a / b).toFixed(2)}×` : '–');
  const c = (e?: Cell): string => (e ? `${f1(e.wallS)} s / ${(e.maxRssKiB / 1024).toFixed(0)} MiB${e.ok ? '' : ' **FAILED**'}` : '–');
  const rows = res.rows.filter((r) => r.label !== 'init');
  const d = res.dumps;
  const dumpRow = d && d.perDump.length > 0 ? (() => {
    const med = (t: ToolName): number => [...d.perDump.map((p) => p.wallS[t])].sort((a, b) => a - b)[Math.floor(d.perDump.length / 2)] ?? 0;
    const peak = (t: ToolName): number => Math.max(...d.perDump.map((p) => p.rssKiB[t])) / 1024;
    return `| dumps: backup of one ${(d.bytes / 2 ** 20).toFixed(0)} MiB dump (median of ${d.count}; peak RSS the largest) | ${d.count} dumps | ${f1(med('lifeboat'))} s / ${peak('lifeboat').toFixed(0)} MiB | ${f1(med('restic'))} s / ${peak('restic').toFixed(0)} MiB | ${x(med('lifeboat'), med('restic'))} | ${x(peak('lifeboat'), peak('restic'))} | ${((d.perDump.at(-1)?.repoBytes.lifeboat ?? 0) / 1e6).toFixed(0)} / ${((d.perDump.at(-1)?.repoBytes.restic ?? 0) / 1e6).toFixed(0)} |\n`;
  })() : '';
  const tbl = [
    '| step | files | lifeboat wall / peak RSS | restic wall / peak RSS | wall × | RSS × | repo MB (lifeboat / restic) |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.filter((r) => !r.label.startsWith('dumps')).map((r) => `| ${r.label} | ${r.size} | ${c(r.lifeboat)} | ${c(r.restic)} | ${x(r.lifeboat?.wallS, r.restic?.wallS)} | ${x(r.lifeboat?.maxRssKiB, r.restic?.maxRssKiB)} | ${r.lifeboat?.repoBytes !== undefined ? `${(r.lifeboat.repoBytes / 1e6).toFixed(0)} / ${((r.restic?.repoBytes ?? 0) / 1e6).toFixed(0)}` : ''} |`),
  ].join('\n') + `\n${dumpRow}` + rows.filter((r) => r.label.startsWith('dumps')).map((r) => `| ${r.label} | ${r.size} dumps | ${c(r.lifeboat)} | ${c(r.restic)} | ${x(r.lifeboat?.wallS, r.restic?.wallS)} | ${x(r.lifeboat?.maxRssKiB, r.restic?.maxRssKiB)} | ${r.lifeboat?.repoBytes !== undefined ? `${(r.lifeboat.repoBytes / 1e6).toFixed(0)} / ${((r.restic?.repoBytes ?? 0) / 1e6).toFixed(0)}` : ''} |`).join('\n');
  const slopes = computeSlopes(res.rows, res.dumps).map((s) => {
    const at = (t: ToolName): string => (s.at ? `${s.at[t][0].toFixed(0)} → ${s.at[t][1].toFixed(0)}` : '–');
    // Straight-line extrapolation from the largest size measured, with the fitted slope.
    const ext = (t: ToolName): string => {
      if (!s.at || s.to === undefined || s.target === undefined) return '–';
      // A slope at or below zero (noise) says memory did not grow: the largest size's peak, not less.
      return s[t] <= 0 ? `${s.at[t][1].toFixed(0)} (flat)` : (s.at[t][1] + s[t] * (s.target - s.to)).toFixed(0);
    };
    const range = s.from !== undefined && s.to !== undefined ? `${s.from.toFixed(2)} → ${s.to.toFixed(2)} ${s.unit ?? ''}` : '–';
    return `| ${s.what} | ${range} | ${at('lifeboat')} | ${at('restic')} | ${s.lifeboat.toFixed(1)} | ${s.restic.toFixed(1)} | ${s.target ?? ''} ${s.unit ?? ''}: ${ext('lifeboat')} / ${ext('restic')} |`;
  }).join('\n');
  return `## Scale: many small files, many dumps (\`npm run bench:scale\`)

<!-- Generated by \`npm run bench:scale\` (bench/scale.ts) from ${resultsFile}. -->

Measured ${res.date.slice(0, 16).replace('T', ' ')} UTC with \`${res.command}\`, lifeboat at ${res.lifeboat}, ${res.restic},
${res.nproc} CPUs, ${res.memoryGiB} GiB RAM; the run took ${Math.round(res.benchSeconds / 60)} minutes, on a machine shared with other
work (${res.uptimes[0]} at the start, ${res.uptimes.at(-1)} at the end; each step's load is in the log). The tools took turns
going first, step by step. Each step ran once: read ratios within ±15 %. "×" is lifeboat / restic (below 1: lifeboat faster or leaner).

Files: ${res.files} small text files (200 B–4 KiB, 1000 a directory) generated once into \`~/.cache/lifeboat-bench/\`; each
size in fresh repositories. Dumps: ${d ? `${d.count} unique dumps of ${(d.bytes / 2 ** 20).toFixed(0)} MiB (${((d.count * d.bytes) / 1e9).toFixed(1)} GB; half of each MiB compressible text), backed up one by one as stdin snapshots` : 'not run'}.
${res.dumpNote}

${tbl}

### Memory against repository size

Peak RSS at the smallest and largest size measured, the least-squares slope over all sizes measured (MiB per million
files, or per GB already in the repository), and a straight-line extrapolation from the largest size with that slope
(a basis, not a measurement: with two sizes, the slope is only as good as those two runs on a shared machine). The
goal: lifeboat's memory grows no faster than restic's.

| what | sizes measured | lifeboat peak RSS MiB | restic peak RSS MiB | lifeboat slope MiB/unit | restic slope MiB/unit | extrapolated (lifeboat / restic MiB) |
| --- | ---: | ---: | ---: | ---: | ---: | ---: |
${slopes}
${res.failures.length ? `\n**Failures:**\n\n${res.failures.map((f) => `- \`${f.replace(/\s+/g, ' ').slice(0, 400)}\``).join('\n')}\n` : ''}
Measured with ${res.measuredWith}. Restores are checked: the file count, and every 997th file byte for byte; the last
dump by SHA-256.
${notes.trim() === '' ? '' : `\n${notes.trim()}\n`}`;
}

interface ScaleResults {
  date: string; command: string; lifeboat: string; restic: string; nproc: number; memoryGiB: number; files: number; sizes: number[];
  rows: Row[]; dumps?: Awaited<ReturnType<typeof dumps>>; slopes: { what: string; lifeboat: number; restic: number; from?: number; to?: number; at?: Record<ToolName, [number, number]>; target?: number; unit?: string }[];
  failures: string[]; uptimes: string[]; benchSeconds: number; measuredWith: string; dumpNote: string;
}

const notes = (): string => {
  const f = path.join(ROOT, 'bench', 'scale-notes.md');
  return existsSync(f) ? readFileSync(f, 'utf8') : '';
};

async function main(): Promise<void> {
  const doc = opts['doc-from'];
  if (doc !== undefined) {
    const res = JSON.parse(readFileSync(doc, 'utf8')) as ScaleResults;
    writeSection(path.join(ROOT, 'docs', 'performance.md'), 'scale', render(res, path.relative(ROOT, path.resolve(doc)), notes()));
    log('wrote docs/performance.md (section scale)');
    return;
  }
  const started = new Date();
  const t0 = performance.now();
  const tree = opts['skip-files'] ? '' : ensureTree();
  const run = path.join(CACHE, 'run');
  rmSync(run, { recursive: true, force: true });
  mkdirSync(run, { recursive: true });
  const fsInfo = statfsSync(run);
  const free = fsInfo.bavail * fsInfo.bsize;
  const need = opts['skip-dumps'] ? 0 : 2.2 * DUMP_GB * 1e9;
  if (free < need) throw new Error(`the dumps need about ${(need / 1e9).toFixed(0)} GB free under ${run} (both repositories), and ${(free / 1e9).toFixed(0)} GB are; set BENCH_SCALE_DUMP_GB lower`);
  const r = new Runner(run);
  const uptimes = [uptime()];
  log(`files ${FILES}, sizes ${SIZES.join(', ')}, dumps ${DUMP_GB} GB of ${DUMP_MB} MB; ${uptime()}`);
  try {
    if (!opts['skip-files']) for (const size of SIZES) await filesAtSize(r, tree, size);
    uptimes.push(uptime());
    const d = opts['skip-dumps'] ? undefined : await dumps(r);
    uptimes.push(uptime());
    const slopes = computeSlopes(r.rows, d);
    const res: ScaleResults = {
      date: started.toISOString(),
      command: `npm run bench:scale (BENCH_SCALE_FILES=${FILES}, BENCH_SCALE_SIZES=${SIZES.join(',')}, BENCH_SCALE_DUMP_GB=${DUMP_GB}, BENCH_SCALE_DUMP_MB=${DUMP_MB}${opts['skip-files'] ? ', --skip-files' : ''}${opts['skip-dumps'] ? ', --skip-dumps' : ''})`,
      lifeboat: shOk(`git -C ${ROOT} rev-parse --short HEAD`).trim(),
      restic: shOk(`${RESTIC} version`).trim(),
      nproc: os.availableParallelism(), memoryGiB: Math.round(os.totalmem() / 2 ** 30), files: FILES, sizes: SIZES,
      rows: r.rows, dumps: d, slopes, failures: r.failures, uptimes, benchSeconds: Math.round((performance.now() - t0) / 1000), measuredWith: measureMethod,
      dumpNote: process.env.BENCH_SCALE_NOTE ?? '',
    };
    const file = path.join(ROOT, 'bench', 'results', `scale-${started.toISOString().slice(0, 16).replace('T', '-').replace(':', '')}.json`);
    writeFileSync(file, JSON.stringify(res, null, 2) + '\n');
    log(`wrote ${path.relative(ROOT, file)}`);
    if (!opts['no-doc']) {
      writeSection(path.join(ROOT, 'docs', 'performance.md'), 'scale', render(res, path.relative(ROOT, file), notes()));
      log('wrote docs/performance.md (section scale)');
    }
    if (r.failures.length > 0) {
      log(`${r.failures.length} failure(s):\n  ${r.failures.join('\n  ')}`);
      process.exitCode = 1;
    }
  } finally {
    rmSync(run, { recursive: true, force: true });
  }
}

if (import.meta.main) await main();
