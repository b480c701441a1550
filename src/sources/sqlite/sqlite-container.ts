/**
 * The sqlite source's file operations when its database lives in a container (a runner with
 * `stageFile`: its commands do not see the host's files). The image's own `sqlite3` makes the
 * consistent copy (`.backup`, the same online backup API) into a private `mktemp -d` dir in
 * the container; the copy streams out with `cat` into the source's host temp dir, where it is
 * checked and fingerprinted exactly as a local copy, so artifacts and fingerprints are the
 * same whichever side the database is on. A restore streams the checked file into a temp
 * file beside the target in the container and renames it there (atomic on one filesystem).
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type { CommandRunner } from '../../core/command-runner.ts';
import { SourceError } from '../../core/errors.ts';
import { collect, succeeded } from '../process-kit.ts';
import type { Collected } from '../process-kit.ts';

/** One line of why a command failed: the tool's last words, or the transport's "not installed" line. */
const why = (r: Collected): string => {
  const lines = r.stderr.trim().split('\n');
  return (r.code === 127 ? lines[0] : lines.at(-1)) || (r.signal !== null ? `killed by ${r.signal}` : `exit ${r.code}`);
};

/** A private dir in the container's /tmp; removed by the returned function. */
export async function containerTempDir(runner: CommandRunner, source: string, signal?: AbortSignal): Promise<{ dir: string; remove: () => Promise<void> }> {
  const r = await collect(runner, { command: 'mktemp', args: ['-d', '/tmp/lifeboat-sqlite.XXXXXXXX'], signal });
  const dir = r.stdout.trim();
  if (!succeeded(r) || !dir.startsWith('/tmp/lifeboat-sqlite.')) {
    throw new SourceError(`source ${source}: cannot make a temp dir in the container: ${why(r)}`, { hint: 'the image needs mktemp and a writable /tmp' });
  }
  return { dir, remove: async () => void (await collect(runner, { command: 'rm', args: ['-rf', '--', dir] })) };
}

/** True when `file` exists in the container. */
export async function containerFileExists(runner: CommandRunner, source: string, file: string, signal?: AbortSignal): Promise<boolean> {
  const r = await collect(runner, { command: 'test', args: ['-e', file], signal });
  if (r.code === 127) throw new SourceError(`source ${source}: cannot check ${file} in the container: ${why(r)}`, { hint: 'the image needs coreutils (test, cat, mktemp)' });
  return succeeded(r);
}

/**
 * A consistent copy of the container's database `file` at `hostCopy` (sqlite3's `.backup`
 * into the container's temp dir, then `cat`): the same bytes the online backup API writes.
 */
export async function pullConsistentCopy(runner: CommandRunner, source: string, file: string, hostCopy: string, signal: AbortSignal): Promise<void> {
  const tmp = await containerTempDir(runner, source, signal);
  try {
    const copy = `${tmp.dir}/copy.db`;
    const b = await collect(runner, { command: 'sqlite3', args: ['-bail', file, '.timeout 30000', `.backup '${copy}'`], signal });
    if (!succeeded(b)) {
      const msg = why(b);
      throw new SourceError(`source ${source}: online backup of ${file} in the container failed: ${msg}`, {
        retryable: /busy|locked/i.test(msg),
        hint: b.code === 127 ? 'install sqlite3 in the image' : 'check `path` (as seen inside the container) and that the file is a SQLite database',
      });
    }
    const cat = runner.start({ command: 'cat', args: ['--', copy], signal });
    await Promise.all([pipeline(cat.stdout, createWriteStream(hostCopy, { flags: 'wx', mode: 0o600 }), { signal }), cat.done.then((f) => {
      if (!succeeded(f)) throw new SourceError(`source ${source}: reading the copy of ${file} from the container failed: ${f.stderr.trim() || `exit ${f.code}`}`, { hint: 'retry; check free space in the container\'s /tmp' });
    })]);
  } finally {
    await tmp.remove().catch(() => undefined);
  }
}

/**
 * Replaces `target` in the container with the checked `hostFile`: written to a temp file
 * beside it (owner and mode of the old file kept), SQLite's stale side files removed, renamed.
 */
export async function pushAndReplace(runner: CommandRunner, source: string, hostFile: string, target: string, signal: AbortSignal): Promise<void> {
  const temp = `${target}.lifeboat-${randomBytes(6).toString('hex')}`;
  const script = 'set -e; umask 077; mkdir -p "$(dirname "$2")"; cat > "$1"; '
    + 'if [ -e "$2" ]; then chmod --reference="$2" "$1"; chown --reference="$2" "$1" 2>/dev/null || true; else chmod 644 "$1"; fi; '
    + 'rm -f "$1-wal" "$1-shm" "$1-journal" "$2-wal" "$2-shm" "$2-journal"; mv -f "$1" "$2"';
  const r = await collect(runner, { command: 'sh', args: ['-c', script, 'sh', temp, target], signal }, createReadStream(hostFile));
  if (!succeeded(r)) {
    await collect(runner, { command: 'rm', args: ['-f', '--', temp] }).catch(() => undefined);
    throw new SourceError(`source ${source}: cannot replace ${target} in the container: ${why(r)}`, {
      hint: 'check that the directory is writable in the container and has room for a second copy of the database',
    });
  }
}
