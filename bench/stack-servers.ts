/**
 * Shared pieces of the stack and scale benches: the repository-size and tree-hash helpers, a
 * Redis server the bench runs itself (the runbooks' restore stops it, puts dump.rdb back and
 * starts it again, which a server owned by test/support cannot do), a pgbench load that runs
 * beside a backup, and one-line shell scripts measured as one child (bash with pipefail, so a
 * failing `pg_dump` in `pg_dump | gzip` fails the step).
 */
import { spawn, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../test/support/ports.ts';
import { measure } from './measure.ts';
import type { RunOptions, Sample } from './measure.ts';

export const RESTIC = '/usr/bin/restic';

export function log(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

/** Number from the environment, or the default. */
export function envNumber(name: string, def: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return def;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name}=${v} is not a positive number`);
  return n;
}

export function dirBytes(dir: string): number {
  let n = 0;
  if (!existsSync(dir)) return 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) n += statSync(path.join(e.parentPath, e.name)).size;
  }
  return n;
}

/** One SHA-256 over every regular file's relative path and content, in path order. */
export function treeDigest(dir: string): string {
  const files: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) files.push(path.relative(dir, path.join(e.parentPath, e.name)));
  }
  files.sort();
  const h = createHash('sha256');
  for (const f of files) h.update(f).update('\0').update(readFileSync(path.join(dir, f))).update('\0');
  return `${files.length} files ${h.digest('hex').slice(0, 16)}`;
}

/** `bash -c script` with -e and pipefail, measured as one child (GNU time covers its children). */
export function sh(script: string, opts: RunOptions = {}): Promise<Sample> {
  return measure('bash', ['-c', `set -eo pipefail\n${script}`], opts);
}

export function shOk(script: string, env?: NodeJS.ProcessEnv): string {
  return execFileSync('bash', ['-c', `set -eo pipefail\n${script}`], { env, encoding: 'utf8', maxBuffer: 1 << 26 });
}

export function uptime(): string {
  return `load average ${os.loadavg().map((x) => x.toFixed(2)).join(', ')}`;
}

/** A redis-server on a free loopback port, daemonized with a pid file, DEBUG DIGEST allowed. */
export class BenchRedis {
  readonly port: number;
  readonly dir: string;
  private constructor(port: number, dir: string) {
    this.port = port;
    this.dir = dir;
  }

  static async start(dir: string): Promise<BenchRedis> {
    const r = new BenchRedis(await freePort(), dir);
    shOk(r.startScript());
    await r.waitReady();
    return r;
  }

  /** The shell lines that start the server and wait until it has loaded its data. */
  startScript(): string {
    return [
      `redis-server --port ${this.port} --bind 127.0.0.1 --dir ${this.dir} --dbfilename dump.rdb --save '' --appendonly no ` +
        `--enable-debug-command yes --daemonize yes --pidfile ${this.dir}/redis.pid --logfile ${this.dir}/redis.log`,
      // PING answers -LOADING while the RDB loads.
      `until [ "$(redis-cli -p ${this.port} ping 2>/dev/null)" = PONG ]; do sleep 0.05; done`,
    ].join('\n');
  }

  /** Stops the server without saving (its data is about to be replaced). */
  stopScript(): string {
    return `redis-cli -p ${this.port} shutdown nosave >/dev/null 2>&1 || true\nwhile [ -e ${this.dir}/redis.pid ] && kill -0 "$(cat ${this.dir}/redis.pid)" 2>/dev/null; do sleep 0.05; done`;
  }

  cli(...args: string[]): string {
    return execFileSync('redis-cli', ['-p', String(this.port), ...args], { encoding: 'utf8' }).trim();
  }

  async waitReady(): Promise<void> {
    for (let i = 0; i < 600; i++) {
      try {
        if (this.cli('ping') === 'PONG') return;
      } catch {
        // not up yet
      }
      await sleep(100);
    }
    throw new Error(`redis-server on port ${this.port} did not answer PING within 60 s; see ${this.dir}/redis.log`);
  }

  stop(): void {
    shOk(this.stopScript());
  }
}

interface LoadSample {
  readonly t: number;
  readonly tps: number;
  readonly latMs: number;
}

export interface LoadWindow {
  readonly tps: number;
  /** Mean of the per-second mean latencies, ms (pgbench -R counts from the scheduled start). */
  readonly latMs: number;
  readonly maxLatMs: number;
  readonly seconds: number;
}

/**
 * A steady read/write load on the live PostgreSQL: `pgbench -R RATE -P 1` (TPC-B-like
 * transactions at a fixed offered rate), its per-second progress lines kept with their arrival
 * time, so the latency during any step can be compared with the latency while idle.
 */
export class PgLoad {
  readonly samples: LoadSample[] = [];
  private child: ReturnType<typeof spawn> | undefined;

  start(db: string, rate: number, env: NodeJS.ProcessEnv): void {
    const child = spawn('pgbench', ['-n', '-c', '2', '-j', '1', '-R', String(rate), '-P', '1', '-T', '86400', db], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let buf = '';
    child.stderr?.on('data', (b: Buffer) => {
      buf += b.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        const m = /progress: [\d.]+ s, ([\d.]+) tps, lat ([\d.]+) ms/.exec(line);
        if (m) this.samples.push({ t: performance.now(), tps: Number(m[1]), latMs: Number(m[2]) });
      }
    });
    this.child = child;
  }

  window(t0: number, t1: number): LoadWindow {
    // A progress line covers the second before it arrived.
    const s = this.samples.filter((x) => x.t > t0 + 1000 && x.t <= t1);
    const mean = (xs: number[]): number => (xs.length === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / xs.length);
    return { tps: mean(s.map((x) => x.tps)), latMs: mean(s.map((x) => x.latMs)), maxLatMs: Math.max(0, ...s.map((x) => x.latMs)), seconds: s.length };
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  stop(): void {
    this.child?.kill('SIGTERM');
    this.child = undefined;
  }
}
