/**
 * `node bench/stack-restore.ts [--mib 300] [--rounds 5]`: a stack restore of one source's
 * artifact against `lifeboat dump` of the same file, same repository, same run.
 *
 * One `command` source backs up a generated stream (AES keystream, incompressible) of --mib
 * MiB as one artifact. Then, alternating which goes first, each round times
 * `lifeboat dump latest /big/big.bin` (stdout to /dev/null) and `lifeboat restore --only big
 * --yes --no-safety-snapshot` (restore_command `cat > /dev/null`, a constant fingerprint):
 * the same bytes read through the same content reader, the restore adding the artifact's
 * SHA-256 check, the pipe to the command, the plan, the hooks and the report. Medians are printed
 * as a row for docs/performance.md ("Stack restore against dump").
 */
import { execFileSync } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { generatedStream } from './corpus.ts';
import { measure } from './measure.ts';
import type { Sample } from './measure.ts';

const { values } = parseArgs({ options: { mib: { type: 'string', default: '300' }, rounds: { type: 'string', default: '5' } } });
const MIB = Number(values.mib);
const ROUNDS = Number(values.rounds);
const LIFEBOAT = path.join(import.meta.dirname, '..', 'bin', 'lifeboat.js');
const run = mkdtempSync(path.join(os.tmpdir(), 'lifeboat-bench-stack-restore-'));

try {
  const file = path.join(run, 'big.bin');
  await pipeline(generatedStream(MIB * 1024 * 1024), createWriteStream(file));
  const repo = path.join(run, 'repo');
  const config = path.join(run, 'lifeboat.yml');
  writeFileSync(config, [
    `repository: { url: "local:${repo}", password: { env: LIFEBOAT_PASSWORD } }`,
    `state_dir: ${path.join(run, 'state')}`,
    'sources:',
    `  big: { type: command, artifact: big.bin, backup_command: "cat ${file}", restore_command: "cat > /dev/null", fingerprint_command: "echo same" }`,
    '',
  ].join('\n'));
  mkdirSync(path.join(run, 'home'), { recursive: true });
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('LIFEBOAT_')) env[k] = v;
  Object.assign(env, { LIFEBOAT_PASSWORD: 'bench', XDG_STATE_HOME: path.join(run, 'home'), XDG_CACHE_HOME: path.join(run, 'home') });
  const lb = (...args: string[]): string => execFileSync(process.execPath, [LIFEBOAT, ...args], { env, encoding: 'utf8' });
  lb('-r', repo, 'init');
  lb('-c', config, 'backup');

  const dump = (): Promise<Sample> => measure(process.execPath, [LIFEBOAT, '-r', repo, 'dump', 'latest', '/big/big.bin'], { env, stdout: { file: '/dev/null' } });
  const restore = (): Promise<Sample> => measure(process.execPath, [LIFEBOAT, '-c', config, 'restore', '--only', 'big', '--yes', '--no-safety-snapshot'], { env, stdout: 'capture' });
  const dumps: Sample[] = [];
  const restores: Sample[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const order = i % 2 === 0 ? [dump, restore] : [restore, dump];
    for (const step of order) {
      const s = await step();
      if (s.exitCode !== 0) throw new Error(`${step === dump ? 'dump' : 'restore'} failed (${s.exitCode}): ${s.stderrTail}`);
      (step === dump ? dumps : restores).push(s);
    }
  }
  const median = (xs: number[]): number => {
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.floor(s.length / 2)] as number;
  };
  const row = (name: string, xs: Sample[]): string =>
    `| ${name} | ${median(xs.map((s) => s.wallS)).toFixed(2)} | ${median(xs.map((s) => s.cpuS)).toFixed(2)} | ${Math.round(median(xs.map((s) => s.maxRssKiB)) / 1024)} |`;
  console.log(`${MIB} MiB artifact, ${ROUNDS} rounds (medians), ${os.cpus().length} cores`);
  console.log('| step | wall s | CPU s | peak RSS MiB |\n|---|---|---|---|');
  console.log(row('`lifeboat dump` of the artifact', dumps));
  console.log(row('stack restore of the source', restores));
  console.log(`walls: dump ${dumps.map((s) => s.wallS.toFixed(2)).join(' ')}; restore ${restores.map((s) => s.wallS.toFixed(2)).join(' ')}`);
} finally {
  rmSync(run, { recursive: true, force: true });
}
