/**
 * Setting access and modification times to the nanosecond, as restic restores them.
 *
 * Node's utimes/futimes/lutimes take seconds as a double, which near today's times is
 * precise to about 240 ns only, so a restored mtime differs from the snapshot's. The libc
 * calls futimens(2) and utimensat(2) take (seconds, nanoseconds); they are called through the
 * optional FFI package koffi (its npm package ships the prebuilt binary; nothing is built or
 * downloaded at install). Where it cannot be loaded (another platform, no libc.so.6, an
 * install without optional packages) the float calls are used, and a warning says so once.
 */
import { createRequire } from 'node:module';
import { futimesSync, lutimesSync } from 'node:fs';
import { constants } from 'node:os';

const NS_PER_S = 1_000_000_000n;
const AT_FDCWD = -100;
const AT_SYMLINK_NOFOLLOW = 0x100;

interface Timespec {
  tv_sec: bigint | number;
  tv_nsec: number;
}

/** The subset of koffi that this file needs. */
interface Koffi {
  load(lib: string): { func(signature: string): (...args: unknown[]) => number };
  struct(name: string, fields: Record<string, string>): unknown;
  errno(): number;
}

interface Native {
  futimens(fd: number, times: Timespec[]): number;
  utimensat(dirfd: number, path: Buffer, times: Timespec[], flags: number): number;
  errno(): number;
}

let native: Native | null | undefined;
let warned = false;

function load(): Native | null {
  if (native !== undefined) return native;
  native = null;
  if (process.platform !== 'linux') return native;
  try {
    const koffi = createRequire(import.meta.url)('koffi') as Koffi;
    const libc = koffi.load('libc.so.6');
    koffi.struct('lifeboat_timespec', { tv_sec: 'int64', tv_nsec: 'long' });
    native = {
      futimens: libc.func('int futimens(int fd, const lifeboat_timespec *times)') as Native['futimens'],
      utimensat: libc.func('int utimensat(int dirfd, const char *path, const lifeboat_timespec *times, int flags)') as Native['utimensat'],
      errno: () => koffi.errno(),
    };
  } catch {
    native = null; // not installed or no glibc here: the float calls below are used
  }
  return native;
}

/** Whether times are set to the nanosecond (false: to about a microsecond). */
export function exactTimesSupported(): boolean {
  return load() !== null;
}

function fallback(): void {
  if (warned) return;
  warned = true;
  process.emitWarning('restored times are exact to about a microsecond only: the optional package koffi (for utimensat) could not be loaded', { code: 'LIFEBOAT_INEXACT_TIMES' });
}

const toSpec = (ns: bigint): Timespec => {
  let sec = ns / NS_PER_S;
  let nsec = ns % NS_PER_S;
  if (nsec < 0n) {
    sec -= 1n;
    nsec += NS_PER_S;
  }
  return { tv_sec: sec, tv_nsec: Number(nsec) };
};

/**
 * Seconds for Node's float calls. A negative number (before 1970) is taken by Node as "now"
 * (toUnixTimestamp in lib/internal/fs/utils.js), a numeric string is not: restic restores
 * such times, so they go as strings.
 */
const seconds = (ns: bigint): number | string => {
  const s = Number(ns) / 1e9;
  return s < 0 ? String(s) : s;
};

/** An error shaped like node:fs's (code, errno, syscall), from a libc errno. */
function fail(call: string, errno: number, path?: string | Buffer): never {
  const code = Object.entries(constants.errno).find(([, v]) => v === errno)?.[0] ?? `errno ${errno}`;
  const err = new Error(`${code}: ${call}${path === undefined ? '' : ` '${path.toString()}'`}`) as NodeJS.ErrnoException;
  err.code = code;
  err.errno = -errno;
  err.syscall = call;
  throw err;
}

/** Sets the times of an open file or directory. */
export function setTimesFd(fd: number, atimeNs: bigint, mtimeNs: bigint): void {
  const n = load();
  if (!n) {
    fallback();
    futimesSync(fd, seconds(atimeNs), seconds(mtimeNs));
    return;
  }
  if (n.futimens(fd, [toSpec(atimeNs), toSpec(mtimeNs)]) !== 0) fail('futimens', n.errno());
}

/** Sets the times of a symlink itself (never of what it points to). */
export function setLinkTimes(path: string | Buffer, atimeNs: bigint, mtimeNs: bigint): void {
  const n = load();
  if (!n) {
    fallback();
    lutimesSync(path, seconds(atimeNs), seconds(mtimeNs));
    return;
  }
  const p = Buffer.concat([typeof path === 'string' ? Buffer.from(path, 'utf8') : path, Buffer.of(0)]);
  if (n.utimensat(AT_FDCWD, p, [toSpec(atimeNs), toSpec(mtimeNs)], AT_SYMLINK_NOFOLLOW) !== 0) fail('utimensat', n.errno(), path);
}
