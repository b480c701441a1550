/**
 * A copy of the checkout's files as git sees them (tracked, or new and not ignored), for tests
 * that build from the sources (npm pack, docker build) without writing into the checkout or
 * taking in what it holds besides (dist/, a symlinked node_modules, benchmark work).
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const CHECKOUT_ROOT: string = fileURLToPath(new URL('../../', import.meta.url));

/** Copies the checkout's files into `dir` (modes kept), less the paths `skip` matches. */
export function copyCheckout(dir: string, skip: RegExp = /^$/): void {
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: CHECKOUT_ROOT, encoding: 'utf8' })
    .split('\0')
    .filter((f) => f !== '' && !skip.test(f));
  for (const f of files) {
    const to = path.join(dir, f);
    mkdirSync(path.dirname(to), { recursive: true });
    try {
      copyFileSync(path.join(CHECKOUT_ROOT, f), to);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err; // deleted, not yet committed
    }
  }
}
