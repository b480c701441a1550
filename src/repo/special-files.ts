/**
 * Fifos and block/character devices, made as restic's restorer makes them (mknod(2) with the
 * node's type, and the device number it recorded). Node.js has no mknod: the libc call goes
 * through the optional FFI package koffi (as file-times.ts), else through the coreutils
 * `mknod` binary. Devices need root (CAP_MKNOD), as with restic; sockets are not recreated
 * (restic skips them too: a socket belongs to the process that listens on it).
 */
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { constants } from 'node:os';
import type { TreeNode } from './tree/node.ts';

const S_IFIFO = 0o010000;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;

/** The subset of koffi that this file needs. */
interface Koffi {
  load(lib: string): { func(signature: string): (...args: unknown[]) => number };
  errno(): number;
}

let native: { mknod(path: Buffer, mode: number, dev: bigint): number; errno(): number } | null | undefined;

function load(): typeof native {
  if (native !== undefined) return native;
  native = null;
  if (process.platform !== 'linux') return native;
  try {
    const koffi = createRequire(import.meta.url)('koffi') as Koffi;
    // mknod is a libc symbol since glibc 2.33; older ones export only __xmknod (then: the binary).
    const mknod = koffi.load('libc.so.6').func('int mknod(const char *path, uint32_t mode, uint64_t dev)');
    native = { mknod: mknod as (path: Buffer, mode: number, dev: bigint) => number, errno: () => koffi.errno() };
  } catch {
    native = null; // not installed, or no such symbol: the mknod binary is used
  }
  return native;
}

/** Whether restore recreates this node type (sockets and unknown types: no). */
export function isSpecialFile(node: TreeNode): boolean {
  return node.type === 'fifo' || node.type === 'chardev' || node.type === 'dev';
}

/** Linux's major and minor of a dev_t (glibc's gnu_dev_major/minor). */
export function splitDevice(dev: bigint): { major: bigint; minor: bigint } {
  return {
    major: ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn),
    minor: (dev & 0xffn) | ((dev >> 12n) & ~0xffn),
  };
}

/**
 * Makes the fifo or device `node` at `path` (which must not exist) with permission bits
 * `perm`; the caller sets owner, mode and times afterwards, as for any new file.
 */
export function makeSpecialFile(path: Buffer, node: TreeNode, perm: number): void {
  const kind = node.type === 'fifo' ? S_IFIFO : node.type === 'chardev' ? S_IFCHR : S_IFBLK;
  const dev = node.type === 'fifo' ? 0n : BigInt(node.device ?? 0);
  const n = load();
  if (n) {
    if (n.mknod(Buffer.concat([path, Buffer.of(0)]), kind | (perm & 0o7777), dev) === 0) return;
    const errno = n.errno();
    const code = Object.entries(constants.errno).find(([, v]) => v === errno)?.[0] ?? `errno ${errno}`;
    throw Object.assign(new Error(`${code}: mknod '${path.toString()}'`), { code, errno: -errno, syscall: 'mknod' });
  }
  const { major, minor } = splitDevice(dev);
  const args = ['-m', (perm & 0o7777).toString(8), '--', path.toString()];
  args.push(...(node.type === 'fifo' ? ['p'] : [node.type === 'chardev' ? 'c' : 'b', String(major), String(minor)]));
  try {
    execFileSync('mknod', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const stderr = String((err as { stderr?: Buffer }).stderr ?? '').trim();
    throw new Error(`mknod '${path.toString()}' failed${stderr ? `: ${stderr}` : ''}`, { cause: err });
  }
}
