/**
 * `npm run bench:remote`: backup and restore of the benchmark corpus to a local S3 server
 * (@20minutes/s3rver, see test/support/s3-server.ts) and to a restic REST server
 * (`rclone serve restic`), against local disk, lifeboat side by side with restic in one run.
 * Every restore is checked file by file against the source. Results go to
 * bench/results/remote-<date>.json and docs/performance-remote.md.
 *
 * Options: --scale X (corpus size; default 0.25 ≈ 150 MB; 1 = the full 600 MB corpus).
 * Both servers are local processes on loopback: this measures the client side and the
 * protocol overhead, not a network.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { execFileSync } from 'node:child_process';
import { CORPUS_VERSION, corpusSpec, generateTree, listFiles } from './corpus.ts';
import { measure, measureMethod } from './measure.ts';
import type { Sample } from './measure.ts';
import { startS3Server } from '../test/support/s3-server.ts';
import { startRcloneRestServer } from '../test/support/rclone.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const WORK = path.join(ROOT, 'bench', 'work');
const PASSWORD = 'bench-password-not-secret';
const { values: opts } = parseArgs({ options: { scale: { type: 'string', default: '0.25' } } });
const scale = Number(opts.scale);

function log(s: string): void {
  process.stderr.write(`[bench:remote] ${s}\n`);
}

function ensureTree(): { tree: string; files: string[]; bytes: number } {
  const spec = corpusSpec(scale);
  const dir = path.join(WORK, scale === 1 ? 'corpus' : `corpus-x${scale}`);
  const tree = path.join(dir, 'tree');
  const marker = path.join(dir, 'tree.done.json');
  const want = JSON.stringify({ version: CORPUS_VERSION, spec });
  if (!existsSync(marker) || readFileSync(marker, 'utf8') !== want) {
    log(`generating corpus tree (scale ${scale})`);
    rmSync(dir, { recursive: true, force: true });
    generateTree(tree, spec);
    writeFileSync(marker, want);
  }
  const files = listFiles(tree);
  let bytes = 0;
  for (const f of files) bytes += readFileSync(path.join(tree, f)).length;
  return { tree, files, bytes };
}

function hashes(root: string, files: readonly string[]): string {
  const h = createHash('sha256');
  for (const f of files) h.update(f).update(createHash('sha256').update(readFileSync(path.join(root, f))).digest());
  return h.digest('hex');
}

interface Cell {
  target: string;
  tool: 'lifeboat' | 'restic';
  step: string;
  sample: Sample;
}

async function main(): Promise<void> {
  const { tree, files, bytes } = ensureTree();
  const expected = hashes(tree, files);
  const run = path.join(WORK, 'remote-run');
  rmSync(run, { recursive: true, force: true });
  mkdirSync(run, { recursive: true });
  const s3 = await startS3Server();
  const rest = await startRcloneRestServer();
  const cells: Cell[] = [];
  try {
    const targets = [
      { name: 'local disk', repo: (tool: string) => path.join(run, `${tool}-repo`), env: {} as NodeJS.ProcessEnv },
      { name: 'REST (rclone serve restic)', repo: (tool: string) => `${rest.url}${tool}/`, env: {} as NodeJS.ProcessEnv },
      { name: 'S3 (s3rver)', repo: (tool: string) => s3.resticUrl(`bench-${tool}`, 'repo'), env: s3.resticEnv() },
    ];
    for (const t of targets) {
      for (const tool of ['lifeboat', 'restic'] as const) {
        const repo = t.repo(tool);
        const cache = path.join(run, `cache-${tool}-${cells.length}`);
        const env: NodeJS.ProcessEnv = tool === 'lifeboat'
          ? { ...process.env, ...t.env, LIFEBOAT_REPOSITORY: repo, LIFEBOAT_PASSWORD: PASSWORD }
          : { ...process.env, ...t.env, RESTIC_REPOSITORY: repo, RESTIC_PASSWORD: PASSWORD, RESTIC_CACHE_DIR: cache };
        const cmd = tool === 'lifeboat' ? process.execPath : '/usr/bin/restic';
        const pre = tool === 'lifeboat' ? [path.join(ROOT, 'bin', 'lifeboat.js')] : [];
        const exec = async (step: string, args: string[]): Promise<Sample> => {
          log(`${t.name} ${tool} ${step}`);
          const s = await measure(cmd, [...pre, ...args], { env, cwd: run });
          if (s.exitCode !== 0) throw new Error(`${tool} ${args.join(' ')} on ${t.name} failed (${s.exitCode}): ${s.stderrTail}`);
          cells.push({ target: t.name, tool, step, sample: s });
          return s;
        };
        await exec('init', tool === 'restic' ? ['init', '--repository-version', '2'] : ['init']);
        await exec('backup', ['backup', tree]);
        const target = path.join(run, `restore-${tool}-${cells.length}`);
        await exec('restore', ['restore', 'latest', '--target', target]);
        const got = hashes(path.join(target, tree), files);
        if (got !== expected) throw new Error(`${tool} restore from ${t.name} differs from the source`);
        rmSync(target, { recursive: true, force: true });
      }
    }
  } finally {
    await s3.stop();
    await rest.stop();
  }
  const date = new Date().toISOString().slice(0, 10);
  const resultsFile = path.join(ROOT, 'bench', 'results', `remote-${date}.json`);
  mkdirSync(path.dirname(resultsFile), { recursive: true });
  const machine = { cpus: os.cpus().length, memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version, restic: execFileSync('/usr/bin/restic', ['version'], { encoding: 'utf8' }).trim() };
  writeFileSync(resultsFile, JSON.stringify({ date, scale, files: files.length, bytes, machine, method: measureMethod, cells }, null, 2) + '\n');
  // The doc: per target and step, lifeboat vs restic.
  const rows: string[] = [];
  for (const target of [...new Set(cells.map((c) => c.target))]) {
    for (const step of ['backup', 'restore']) {
      const lb = cells.find((c) => c.target === target && c.step === step && c.tool === 'lifeboat')?.sample;
      const rs = cells.find((c) => c.target === target && c.step === step && c.tool === 'restic')?.sample;
      if (!lb || !rs) continue;
      const r = (a: number, b: number): string => (b > 0 ? (a / b).toFixed(2) : '-');
      rows.push(`| ${target} | ${step} | ${lb.wallS.toFixed(2)} / ${rs.wallS.toFixed(2)} | ${r(lb.wallS, rs.wallS)} | ${lb.cpuS.toFixed(2)} / ${rs.cpuS.toFixed(2)} | ${r(lb.cpuS, rs.cpuS)} | ${Math.round(lb.maxRssKiB / 1024)} / ${Math.round(rs.maxRssKiB / 1024)} | ${r(lb.maxRssKiB, rs.maxRssKiB)} |`);
    }
  }
  const doc = `# Remote repositories: local disk vs REST vs S3

Generated by \`npm run bench:remote -- --scale ${scale}\` on ${date} (raw numbers: \`${path.relative(ROOT, resultsFile)}\`).
Corpus: the benchmark tree at scale ${scale} — ${files.length} files, ${(bytes / 1e6).toFixed(0)} MB. Each tool
backs it up into a fresh repository and restores the latest snapshot; every restore is compared
file by file with the source. The REST server is \`rclone serve restic\`, the S3 server the local
@20minutes/s3rver used by the tests (it writes every object synchronously to a local directory and
joins multipart uploads on completion: slow, and not a model of MinIO or AWS). Both run on loopback,
so this measures client work and protocol overhead, not a network. Machine: ${machine.cpus} cores,
${machine.memoryGiB} GiB, Node ${machine.node}, ${machine.restic}. Measurement: ${measureMethod}.

Ratios are lifeboat / restic: below 1 means lifeboat is faster or leaner.

| target | step | wall s (lifeboat / restic) | wall | CPU s (lifeboat / restic) | CPU | peak RSS MiB (lifeboat / restic) | RSS |
|---|---|---|---|---|---|---|---|
${rows.join('\n')}
`;
  writeFileSync(path.join(ROOT, 'docs', 'performance-remote.md'), doc);
  process.stdout.write(doc);
}

await main();
