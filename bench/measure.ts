/**
 * Runs one child process and measures it: wall time, CPU time (user + sys) and peak RSS.
 *
 * GNU time (/usr/bin/time, Debian package `time`) is preferred: it reports the child's own
 * rusage from wait4(), which covers all its threads (Node's libuv pool, restic's goroutines)
 * and any children it waited for. Without it, /proc/<pid>/status VmHWM and /proc/<pid>/stat
 * are polled every 20 ms instead: peak RSS is then exact (VmHWM is the kernel's high-water
 * mark) but CPU time misses the last <= 20 ms of the run.
 *
 * Before each run, `sync` flushes dirty pages, so one run's writeback is not billed to the next.
 * stdin can be fed from a file through a real pipe (a stream, as `pg_dump | tool` gives), and
 * stdout can be captured, hashed (SHA-256, for restores to stdout) or written to a file.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';

export interface Sample {
  readonly wallS: number;
  readonly userS: number;
  readonly sysS: number;
  readonly cpuS: number;
  readonly maxRssKiB: number;
  readonly exitCode: number;
  /** Captured stdout (capped), or the hex SHA-256 of stdout when hashed. */
  readonly stdout: string;
  readonly stdoutSha256?: string;
  readonly stdoutBytes: number;
  readonly stderrTail: string;
}

export interface RunOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  readonly stdinFile?: string;
  /** Fed to stdin through a pipe, as stdinFile is (a generated stream). */
  readonly stdinStream?: () => Readable;
  readonly stdout?: 'capture' | 'hash' | { readonly file: string };
}

export const GNU_TIME = '/usr/bin/time';
export const hasGnuTime = existsSync(GNU_TIME);
export const measureMethod = hasGnuTime
  ? 'GNU time (/usr/bin/time -f "%e %U %S %M"): wall, user, sys and max RSS from wait4() rusage of the child'
  : 'polling /proc/<pid>/status VmHWM and /proc/<pid>/stat every 20 ms (GNU time not installed)';

const CAP = 1 << 20;

function procCpu(pid: number): { user: number; sys: number; hwm: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const hz = 100;
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const hwm = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return { user: Number(f[11]) / hz, sys: Number(f[12]) / hz, hwm };
  } catch {
    return undefined;
  }
}

export async function measure(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<Sample> {
  // Flush dirty pages first (untimed): otherwise the writeback of whatever ran before (a
  // 600 MB corpus copy, the other tool's repository) lands on this run's fsync calls.
  execFileSync('sync');
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'lifeboat-bench-'));
  const timeFile = path.join(tmp, 'time');
  const outMode = opts.stdout ?? 'capture';
  const outFd = typeof outMode === 'object' ? openSync(outMode.file, 'w') : undefined;
  const [file, argv] = hasGnuTime ? [GNU_TIME, ['-f', '%e %U %S %M', '-o', timeFile, cmd, ...args]] : [cmd, [...args]];
  const t0 = performance.now();
  const child = spawn(file, argv, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: [opts.stdinFile !== undefined || opts.stdinStream ? 'pipe' : 'ignore', outFd ?? 'pipe', 'pipe'],
  });
  if ((opts.stdinFile !== undefined || opts.stdinStream) && child.stdin) {
    const input = opts.stdinStream ? opts.stdinStream() : createReadStream(opts.stdinFile as string, { highWaterMark: 1 << 20 });
    input.pipe(child.stdin);
    // A tool that exits early closes the pipe; that shows as its exit code, not as EPIPE here.
    child.stdin.on('error', () => undefined);
  }
  let stdout = '';
  let stdoutBytes = 0;
  const hash = outMode === 'hash' ? createHash('sha256') : undefined;
  child.stdout?.on('data', (b: Buffer) => {
    stdoutBytes += b.length;
    if (hash) hash.update(b);
    else if (stdout.length < CAP) stdout += b.toString();
  });
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => {
    stderr = (stderr + b.toString()).slice(-8192);
  });
  let polled = { user: 0, sys: 0, hwm: 0 };
  const poll = hasGnuTime
    ? undefined
    : setInterval(() => {
        const p = child.pid !== undefined ? procCpu(child.pid) : undefined;
        if (p) polled = { user: p.user, sys: p.sys, hwm: Math.max(polled.hwm, p.hwm) };
      }, 20);
  const exitCode = await new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
  const wall = (performance.now() - t0) / 1000;
  if (poll) clearInterval(poll);
  if (outFd !== undefined) closeSync(outFd);
  let sample: Pick<Sample, 'wallS' | 'userS' | 'sysS' | 'maxRssKiB'>;
  if (hasGnuTime) {
    // GNU time writes "Command exited with non-zero status N" first when the child failed.
    const lines = readFileSync(timeFile, 'utf8').trim().split('\n');
    const [e, u, s, m] = (lines.at(-1) ?? '').split(' ').map(Number);
    sample = { wallS: e, userS: u, sysS: s, maxRssKiB: m };
  } else {
    sample = { wallS: wall, userS: polled.user, sysS: polled.sys, maxRssKiB: polled.hwm };
  }
  rmSync(tmp, { recursive: true, force: true });
  return {
    ...sample,
    cpuS: Math.round((sample.userS + sample.sysS) * 100) / 100,
    exitCode,
    stdout: hash ? '' : stdout,
    stdoutSha256: hash?.digest('hex'),
    stdoutBytes,
    stderrTail: stderr.trim().split('\n').slice(-15).join('\n'),
  };
}
