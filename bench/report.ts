/**
 * Renders docs/performance.md from one results file of `npm run bench`: the ratio summary,
 * one table per step, the dump-versus-gzip comparison, the profile hot spots, and the
 * hand-written analysis kept in bench/analysis.md (so regenerating never loses it).
 */
import type { CorpusSpec } from './corpus.ts';
import type { ProfileSummary } from './profile-summary.ts';

export interface Entry {
  wallS: number;
  cpuS: number;
  userS: number;
  sysS: number;
  maxRssKiB: number;
  ok: boolean;
  error?: string;
  repoBytes?: number;
  outputBytes?: number;
  summary?: Record<string, number>;
  verified?: { ok: boolean; detail: string };
  /** With several rounds: each round's wall time and peak RSS (the fields above are medians). */
  rounds?: { wallS: number[]; maxRssKiB: number[] };
}

export interface Row {
  readonly id: string;
  readonly step: string;
  readonly label: string;
  readonly entries: Record<string, Entry>;
}

export interface BenchResults {
  readonly date: string;
  readonly quick: boolean;
  readonly steps: readonly string[];
  readonly machine: {
    nproc: number;
    cpuModel: string;
    memoryGiB: number;
    kernel: string;
    node: string;
    restic: string;
    lifeboat: string;
    gzip: string;
    measuredWith: string;
  };
  readonly corpus: {
    scale: number;
    spec: CorpusSpec;
    treeBytes: number;
    treeFiles: number;
    dumpBytes: number;
    change?: { bytesChanged: number; actions: string[] };
  };
  readonly rows: readonly Row[];
  readonly hourly?: { hours: { dumpBytes: number; entries: Record<string, Entry> }[] };
  /** Generated streams of growing size, each backed up and dumped in a fresh repository. */
  readonly scaling?: { streams: { bytes: number; backup: Record<string, Entry>; dump: Record<string, Entry> }[] };
  readonly profiles: Record<string, ProfileSummary>;
  readonly failures: readonly string[];
  readonly benchSeconds: number;
  /** How many times the main steps ran (fresh repositories each time); rows hold medians. */
  readonly rounds?: number;
}

const MB = (n: number | undefined): string => (n === undefined ? '–' : (n / 1e6).toFixed(1));
const sec = (n: number): string => (n < 10 ? n.toFixed(2) : n.toFixed(1));
const mib = (kib: number): string => (kib / 1024).toFixed(0);

function minutes(s: number): string {
  const m = Math.max(1, Math.round(s / 60));
  return `${m} minute${m === 1 ? '' : 's'}`;
}

function ratio(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined || b <= 0) return '–';
  return `${(a / b).toFixed(2)}×`;
}

function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map((_, i) => (i === 0 ? '---' : '---:'))), ...rows.map(line)].join('\n');
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/**
 * One row per step from several rounds: the median of each time and of peak RSS, failed if
 * any round failed, sizes and checks from the first round (they are the same every round).
 */
export function mergeRounds(rounds: readonly (readonly Row[])[]): Row[] {
  const [first = [], ...rest] = rounds;
  if (rest.length === 0) return [...first];
  return first.map((row) => {
    const entries: Record<string, Entry> = {};
    for (const [tool, e0] of Object.entries(row.entries)) {
      const all = [e0, ...rest.map((r) => r.find((x) => x.id === row.id)?.entries[tool]).filter((e): e is Entry => e !== undefined)];
      entries[tool] = {
        ...e0,
        wallS: median(all.map((e) => e.wallS)),
        cpuS: median(all.map((e) => e.cpuS)),
        userS: median(all.map((e) => e.userS)),
        sysS: median(all.map((e) => e.sysS)),
        maxRssKiB: median(all.map((e) => e.maxRssKiB)),
        ok: all.every((e) => e.ok),
        error: all.find((e) => e.error)?.error,
        verified: all.find((e) => e.verified && !e.verified.ok)?.verified ?? e0.verified,
        rounds: { wallS: all.map((e) => e.wallS), maxRssKiB: all.map((e) => e.maxRssKiB) },
      };
    }
    return { ...row, entries };
  });
}

function stepTable(row: Row): string {
  const lb = row.entries.lifeboat;
  const rs = row.entries.restic;
  const gz = row.entries.gzip;
  // The baseline's column: compressing the dump for backups, decompressing it for restores.
  const head = ['', 'lifeboat', 'restic', ...(gz ? [row.step === 'restore' ? 'gzip -dc' : 'gzip -6'] : []), 'lifeboat / restic'];
  const cell = (e: Entry | undefined, f: (e: Entry) => string): string => (e === undefined ? '–' : e.ok ? f(e) : `${f(e)} (failed)`);
  const r = (name: string, f: (e: Entry) => string, num: (e: Entry) => number | undefined): string[] => [
    name, cell(lb, f), cell(rs, f), ...(gz ? [cell(gz, f)] : []), ratio(lb && num(lb), rs && num(rs)),
  ];
  const rows = [
    r('wall (s)', (e) => sec(e.wallS), (e) => e.wallS),
    r('CPU user+sys (s)', (e) => sec(e.cpuS), (e) => e.cpuS),
    r('peak RSS (MiB)', (e) => mib(e.maxRssKiB), (e) => e.maxRssKiB),
  ];
  if (lb?.rounds && lb.rounds.wallS.length > 1) {
    const each = (e: Entry | undefined, f: (e: NonNullable<Entry['rounds']>) => string): string => (e?.rounds ? f(e.rounds) : '–');
    rows.push(['wall, each round (s)', each(lb, (x) => x.wallS.map(sec).join(', ')), each(rs, (x) => x.wallS.map(sec).join(', ')), ...(gz ? [each(gz, (x) => x.wallS.map(sec).join(', '))] : []), '–']);
    rows.push(['peak RSS, each round (MiB)', each(lb, (x) => x.maxRssKiB.map(mib).join(', ')), each(rs, (x) => x.maxRssKiB.map(mib).join(', ')), ...(gz ? [each(gz, (x) => x.maxRssKiB.map(mib).join(', '))] : []), '–']);
  }
  if (lb?.repoBytes !== undefined || rs?.repoBytes !== undefined) {
    const repoRow = r('repository after (MB)', (e) => MB(e.repoBytes), (e) => e.repoBytes);
    if (gz?.outputBytes !== undefined) repoRow[3] = `${MB(gz.outputBytes)} (.gz file)`;
    rows.push(repoRow);
  }
  if (lb?.summary?.data_added !== undefined || rs?.summary?.data_added !== undefined) {
    // Not comparable: restic 0.14 reports new blobs before compression, lifeboat as stored.
    rows.push(['`data_added` as reported (MB)¹', MB(lb?.summary?.data_added), MB(rs?.summary?.data_added), ...(gz ? ['–'] : []), '–']);
  }
  let out = `### ${row.label}\n\n${table(head, rows)}\n`;
  const checks = Object.entries(row.entries).filter(([, e]) => e.verified).map(([t, e]) => `${t}: ${e.verified?.ok ? 'verified' : 'MISMATCH'}, ${e.verified?.detail}`);
  if (checks.length > 0) out += `\nCorrectness: ${checks.join('; ')}.\n`;
  const errors = Object.entries(row.entries).filter(([, e]) => e.error).map(([t, e]) => `- ${t}: \`${e.error?.replace(/\s+/g, ' ').slice(0, 400)}\``);
  if (errors.length > 0) out += `\nFailures:\n\n${errors.join('\n')}\n`;
  return out;
}

function summaryTable(rows: readonly Row[]): string {
  const body = rows
    .filter((r) => r.entries.lifeboat && r.entries.restic)
    .map((r) => {
      const lb = r.entries.lifeboat;
      const rs = r.entries.restic;
      return [r.label, `${sec(lb.wallS)} / ${sec(rs.wallS)}`, ratio(lb.wallS, rs.wallS), ratio(lb.cpuS, rs.cpuS), ratio(lb.maxRssKiB, rs.maxRssKiB), ratio(lb.repoBytes, rs.repoBytes)];
    });
  return table(['step', 'wall s (lifeboat / restic)', 'wall', 'CPU', 'peak RSS', 'repo size'], body);
}

function hourlySection(res: BenchResults): string {
  const h = res.hourly?.hours;
  if (!h || h.length === 0) return '';
  const rows = h.map((x, i) => [
    `hour ${i}${i === 0 ? ' (base dump)' : ' (+0.5 % rows edited)'}`,
    MB(x.dumpBytes),
    `${MB(x.entries.lifeboat?.repoBytes)} (${sec(x.entries.lifeboat?.wallS ?? 0)} s)`,
    `${MB(x.entries.restic?.repoBytes)} (${sec(x.entries.restic?.wallS ?? 0)} s)`,
    `${MB(x.entries.gzip?.outputBytes)} (${sec(x.entries.gzip?.wallS ?? 0)} s)`,
    MB(h.slice(0, i + 1).reduce((a, y) => a + (y.entries.gzip?.outputBytes ?? 0), 0)),
  ]);
  const n = h.length;
  const extrapolate = (tool: string): number | undefined => {
    const first = h[0].entries[tool]?.repoBytes;
    const last = h[n - 1].entries[tool]?.repoBytes;
    if (first === undefined || last === undefined || n < 2) return undefined;
    return first + ((last - first) / (n - 1)) * 23;
  };
  const gzAvg = h.reduce((a, y) => a + (y.entries.gzip?.outputBytes ?? 0), 0) / n;
  return `## Hourly dumps: repository growth versus 24 gzip copies

${n} dumps in fresh repositories; each hour rewrites a contiguous 0.4 % of the rows of one
table and appends 0.1 % new rows (the dump grows slightly, like a live database). The wall
time of each backup is in brackets.

${table(['', 'dump (MB)', 'lifeboat repo (MB)', 'restic repo (MB)', 'gzip -6 (MB)', 'sum of .gz so far (MB)'], rows)}

**Extrapolated to 24 hourly copies** (linear: first dump plus 23 × the mean growth per hour
measured above; an estimate, not a measurement): lifeboat repository ≈ ${MB(extrapolate('lifeboat'))} MB,
restic repository ≈ ${MB(extrapolate('restic'))} MB, 24 × gzip ≈ ${MB(gzAvg * 24)} MB.
`;
}

function scalingSection(res: BenchResults): string {
  const st = res.scaling?.streams;
  if (!st || st.length === 0) return '';
  const mib = (e: Entry | undefined): string => (e ? `${Math.round(e.maxRssKiB / 1024)}` : '–');
  const cell = (e: Entry | undefined): string => (e ? `${mib(e)} (${sec(e.wallS)} s)${e.ok && e.verified?.ok !== false ? '' : ' FAILED'}` : '–');
  const rows = st.map((x) => [MB(x.bytes), cell(x.backup.lifeboat), cell(x.backup.restic), cell(x.dump.lifeboat), cell(x.dump.restic)]);
  const first = st[0];
  const last = st[st.length - 1];
  const growth = (tool: string, kind: 'backup' | 'dump'): string => {
    const a = first[kind][tool];
    const b = last[kind][tool];
    return a && b ? `${Math.round(b.maxRssKiB / 1024) - Math.round(a.maxRssKiB / 1024)} MiB` : '–';
  };
  return `## Memory versus input size

Generated streams (1 MiB blocks, alternately random and the hex of random bytes: every chunk a
new blob, half of them compressible), each backed up through a pipe into a fresh repository and
dumped back to stdout (SHA-256 compared), once per tool. Peak RSS in MiB, wall time in brackets.

${table(['stream (MB)', 'lifeboat backup', 'restic backup', 'lifeboat dump', 'restic dump'], rows)}

From the smallest to the largest stream (${(last.bytes / first.bytes).toFixed(0)} times the bytes), peak RSS grew by
${growth('lifeboat', 'backup')} (backup) and ${growth('lifeboat', 'dump')} (dump) for lifeboat, by ${growth('restic', 'backup')} and ${growth('restic', 'dump')} for restic.
`;
}

function profileSection(res: BenchResults): string {
  const names = Object.keys(res.profiles);
  if (names.length === 0) return '';
  let out = `## Where lifeboat spends its time (CPU profiles)

\`node --cpu-prof\` on lifeboat's first directory backup, first dump backup, restore and
\`check --read-data\` (again in a fresh repository, outside the timed runs). Self time of the
top frame of each sample of the main thread; "idle" is the main thread waiting for I/O, for
libuv's thread pool (zlib/zstd, fs) or for the disk.
`;
  for (const name of names) {
    const p = res.profiles[name];
    const pct = (x: number): string => `${(x * 100).toFixed(1)} %`;
    out += `\n### ${name} (profiled run: ${p.wallS !== undefined ? sec(p.wallS) : '?'} s wall, ${p.cpuS !== undefined ? sec(p.cpuS) : '?'} s CPU)\n\n`;
    out += table(['area', 'self time', 'share'], p.areas.slice(0, 8).map((a) => [a.name, `${(a.selfMs / 1000).toFixed(2)} s`, pct(a.share)])) + '\n\n';
    out += table(['function', 'where', 'self time', 'share'], p.functions.slice(0, 10).map((f) => [`\`${f.name}\``, f.where ? `\`${f.where}\`` : '', `${(f.selfMs / 1000).toFixed(2)} s`, pct(f.share)])) + '\n';
  }
  return out;
}

export function renderDoc(res: BenchResults, analysis: string, resultsFile: string): string {
  const m = res.machine;
  const c = res.corpus;
  const s = c.spec;
  const groups = [...new Set(res.rows.map((r) => r.step))];
  const stepTitles: Record<string, string> = {
    backup: 'First backup',
    nochange: 'Backup with nothing changed',
    change: 'Backup after a ~2 % change',
    restore: 'Restore',
    check: 'check --read-data',
  };
  const perStep = groups.map((g) => `## ${stepTitles[g] ?? g}\n\n${res.rows.filter((r) => r.step === g).map(stepTable).join('\n')}`).join('\n');
  const failures = res.failures.length === 0 ? '' : `## Failures\n\n${res.failures.map((f) => `- \`${f.replace(/\s+/g, ' ').slice(0, 600)}\``).join('\n')}\n\n`;
  return `# lifeboat performance: side by side with restic

<!-- Generated by \`npm run bench\` (bench/run.ts) from ${resultsFile}; edit bench/analysis.md
     or bench/report.ts instead of this file. -->

Measured ${res.date.slice(0, 16).replace('T', ' ')} UTC${res.quick ? ' (**quick corpus, 10× smaller**)' : ''};
raw numbers in \`${resultsFile}\`. Ratios are lifeboat / restic: **below 1 means lifeboat is
faster or leaner**, above 1 that restic is.${(res.rounds ?? 1) > 1 ? ` Every number is the **median of ${res.rounds} rounds** (each round runs
all steps again on fresh repositories, and the tools take turns going first; the per-step tables list each round).` : ''} The whole bench took ${minutes(res.benchSeconds)}.

## Summary

${summaryTable(res.rows)}

${failures}${analysis.trim()}

## Machine

| | |
| --- | --- |
| CPUs (nproc) | ${m.nproc} × ${m.cpuModel} |
| memory | ${m.memoryGiB} GiB |
| kernel | ${m.kernel} |
| lifeboat | ${m.lifeboat} on Node.js ${m.node} |
| restic | ${m.restic} |
| gzip | ${m.gzip} |

## Corpus

Generated deterministically by \`bench/corpus.ts\` under \`bench/work/\` (gitignored) and
reused by later runs. Directory tree: **${MB(c.treeBytes)} MB in ${c.treeFiles} files**:

- ${s.smallFiles} small config-like text files of 1–16 KiB (.conf, .yml, .json, .md, .js) in
  directories of 100;
- ${s.mediumFiles} medium CSV / prose files (0.5–3 MiB at full size);
- ${s.randomFiles.length} incompressible random files (${MB(s.randomFiles.reduce((a, b) => a + b, 0))} MB: media, encrypted blobs);
- ${s.logFiles} application logs (${MB(s.logBytes)} MB each) and ${s.jsonFiles} JSON-lines exports (${MB(s.jsonBytes)} MB each).

The text uses a fixed vocabulary with a skewed word frequency, so it compresses like real text
rather than like noise (the dump compresses ${res.rows.find((r) => r.id === 'backup-dump')?.entries.gzip?.outputBytes ? `${(c.dumpBytes / (res.rows.find((r) => r.id === 'backup-dump')?.entries.gzip?.outputBytes ?? 1)).toFixed(1)}×` : 'several times'} with gzip -6).

SQL dump: **${MB(c.dumpBytes)} MB** of pg_dump \`--inserts\`-style text (three tables: users,
orders, comments), piped to each tool's stdin through a real pipe
(\`backup --stdin --stdin-filename dump.sql\`), byte-identical for both tools and for gzip.

The ~2 % change${c.change ? ` (${MB(c.change.bytesChanged)} MB written, ${((c.change.bytesChanged / c.treeBytes) * 100).toFixed(1)} % of the tree)` : ''}:
${c.change ? c.change.actions.map((a) => `- ${a}`).join('\n') : '- (not run)'}
- and the dump: 1.6 % of all rows rewritten in one contiguous run of one table, 0.4 % new rows appended.

## Method

- Both tools run in the same \`npm run bench\`, one after the other for each step (lifeboat
  first in odd rounds, restic first in even ones), each on its own fresh repository on the
  same local disk (\`bench/work/run/\`). restic
  uses repository format 2 (\`init --repository-version 2\`, compression \`auto\`, its default);
  it keeps its normal local cache (RESTIC_CACHE_DIR in a fresh directory per repository), as
  users run it. lifeboat has no local cache.
- Steps: first backup of the directory, then of the dump stream; the same again with nothing
  changed (the directory uses the parent snapshot; a stdin stream is always re-read and
  deduplicated); the ~2 % change and both backups again; \`restore <latest directory
  snapshot> --target DIR\` into an empty directory, then \`dump <dump snapshot> /dump.sql\` to
  stdout; \`check --read-data\`.
- Every child process is measured with ${m.measuredWith}. CPU is user + sys of all its threads;
  above 1 s of wall per s of CPU means waiting (disk, single-threaded stages), CPU above wall
  means parallel work. The machine has ${m.nproc} CPUs, so CPU time can be at most ${m.nproc}× wall.
- The page cache is warm (the corpus was just generated or copied, RAM is ample): this measures
  the tools, not the disk.
- Correctness is checked in the same run: the restored tree is compared file by file (SHA-256
  of every file, no missing or extra files) with the source, and the dumped stream's SHA-256
  with the dump that was backed up. A failed check is listed under Failures above.
- Repository size is the sum of the file sizes in the repository directory after each backup
  (restic's cache is outside it). ¹ The \`data_added\` of the backup summaries is shown as each
  tool reports it and is not comparable: restic 0.14 counts new data before compression,
  lifeboat after; compare repository sizes instead.
- Run it: \`npm run bench\` (${res.quick ? 'the full corpus takes about 10× longer' : `full, ${minutes(res.benchSeconds)} here`}), \`npm run bench -- --quick\` (10× smaller
  corpus, for iterating; writes \`bench/results/<date>-quick.json\` only), \`--steps
  backup,restore\` (a subset; steps after the first backup pull it in), \`--write-doc\`,
  \`--doc-from bench/results/<date>.json\` (regenerate this page without running).

${perStep}
${hourlySection(res)}
${scalingSection(res)}
${profileSection(res)}`;
}
