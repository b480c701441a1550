/**
 * restore_mode data_dir when the server runs in a container (the container transport).
 *
 * The server is the container's process, so it is stopped by stopping the container, and a
 * stopped container runs no commands. So the RDB goes in first, while the server still runs:
 * streamed (and checked) into a temp file beside dump.rdb in its `dir`, given the old file's
 * owner and mode. Then the container is stopped (the server's own shutdown save lands in
 * dump.rdb and is about to be replaced), and one tiny tar put through the engine's archive
 * API makes dump.rdb a hard link to the temp file: the old file is replaced only by a
 * complete, checked RDB, and no copy of the data leaves the container's filesystem. The
 * container is started again whatever happened, and the temp name removed.
 */
import { randomBytes } from 'node:crypto';
import type { CommandRunner, RunnerContainer, StoppedContainer } from '../../core/command-runner.ts';
import { SourceError, errorMessage } from '../../core/errors.ts';
import type { SourceLog } from '../../core/source.ts';
import { collect, succeeded } from '../process-kit.ts';
import { TAR_END, tarHeader } from '../../util/tar-header.ts';
import { RdbChecker } from './rdb.ts';
import { RDB_ARTIFACT } from './redis-restore.ts';

export interface ContainerDataDirRestore {
  readonly what: string;
  readonly runner: CommandRunner;
  readonly container: RunnerContainer;
  /** The server's `dir`, as seen inside the container. */
  readonly dir: string;
  readonly log: SourceLog;
  readonly signal: AbortSignal;
}

const lastLine = (s: string, fallback: string): string => s.trim().split('\n').at(-1) || fallback;

/** Where writeTemp writes: the server's dir as seen by `runner`'s commands, described as `where`. */
export interface TempTarget {
  readonly what: string;
  readonly runner: CommandRunner;
  readonly dir: string;
  readonly where: string;
  readonly signal: AbortSignal;
}

/**
 * Writes the RDB, checked on the way, beside dump.rdb (owner and mode of the old one, else of
 * the dir, 0600); resolves with uid, gid, mode. A failed check or write removes it.
 */
export async function writeTemp(data: AsyncIterable<Uint8Array>, temp: string, r: TempTarget): Promise<{ uid: number; gid: number; mode: number; size: number }> {
  const checker = new RdbChecker();
  const script = 'set -e; cd "$1"; umask 077; cat > "$2"; '
    + `if [ -e ${RDB_ARTIFACT} ]; then chown --reference=${RDB_ARTIFACT} "$2" 2>/dev/null || true; chmod --reference=${RDB_ARTIFACT} "$2"; `
    + 'else chown --reference=. "$2" 2>/dev/null || true; chmod 600 "$2"; fi; stat -c "%u %g %a" "$2"';
  const w = await collect(r.runner, { command: 'sh', args: ['-c', script, 'sh', r.dir, temp], signal: r.signal }, (async function* () {
    for await (const chunk of data) {
      checker.update(chunk);
      yield chunk;
    }
  })());
  const result = checker.finish();
  if (!succeeded(w) || !result.ok) {
    await collect(r.runner, { command: 'rm', args: ['-f', '--', `${r.dir}/${temp}`] }).catch(() => undefined);
    if (!result.ok) throw new SourceError(`${r.what}: the backed-up ${RDB_ARTIFACT} ${result.reason}`, { hint: 'restore an older snapshot; run lifeboat check on the repository' });
    throw new SourceError(`${r.what}: cannot write ${RDB_ARTIFACT} into ${r.dir} in ${r.where}: ${lastLine(w.stderr, `exit ${w.code}`)}`, {
      hint: 'data_dir is the server\'s dir as seen where it runs (its container or ssh host); it needs room for a second copy of the RDB',
    });
  }
  const [uid, gid, mode] = w.stdout.trim().split(' ');
  return { uid: Number(uid), gid: Number(gid), mode: parseInt(mode ?? '600', 8), size: result.size };
}

export async function restoreDataDirInContainer(data: AsyncIterable<Uint8Array>, r: ContainerDataDirRestore): Promise<void> {
  const temp = `.${RDB_ARTIFACT}.lifeboat-${randomBytes(6).toString('hex')}.tmp`;
  const owner = await writeTemp(data, temp, { ...r, where: r.container.description });
  const removeTemp = async (): Promise<void> => {
    const rm = await collect(r.runner, { command: 'rm', args: ['-f', '--', `${r.dir}/${temp}`] }).catch((err: unknown) => ({ code: 1, signal: null, stderr: errorMessage(err), stdout: '' }));
    if (!succeeded(rm)) r.log.warn(`${r.what}: could not remove ${r.dir}/${temp} in ${r.container.description} (${lastLine(rm.stderr, 'failed')}); it is a second name of ${RDB_ARTIFACT}, remove it by hand`);
  };
  let stopped: StoppedContainer;
  try {
    stopped = await r.container.stop();
  } catch (err) {
    await removeTemp();
    throw err;
  }
  r.log.info(`${r.what}: stopped ${r.container.description}`);
  let putError: unknown;
  try {
    const link = tarHeader({ name: RDB_ARTIFACT, type: '1', linkname: temp, mode: owner.mode, uid: owner.uid, gid: owner.gid });
    await stopped.putArchive(r.dir, Buffer.concat([link, TAR_END]));
  } catch (err) {
    putError = err;
  }
  try {
    await stopped.start();
  } catch (err) {
    throw new SourceError(`${r.what}: ${r.container.description} did not start again after ${RDB_ARTIFACT} was ${putError === undefined ? 'replaced' : 'left as it was'}: ${errorMessage(err)}`, {
      cause: err, hint: `start it by hand and look at its log (docker logs); ${r.dir}/${temp} holds the restored RDB`,
    });
  }
  r.log.info(`${r.what}: started ${r.container.description} again`);
  await removeTemp();
  if (putError !== undefined) {
    throw new SourceError(`${r.what}: cannot replace ${RDB_ARTIFACT} in ${r.dir} of ${r.container.description}: ${errorMessage(putError)}; the old one is in place and the server runs`, { cause: putError });
  }
  r.log.info(`${r.what}: replaced ${RDB_ARTIFACT} (${owner.size} bytes) in ${r.dir} of ${r.container.description}`);
  const aof = await collect(r.runner, { command: 'sh', args: ['-c', 'cd "$1" && ls -d appendonlydir appendonly.aof 2>/dev/null; true', 'sh', r.dir] }).catch(() => undefined);
  for (const name of aof?.stdout.trim().split('\n').filter((n) => n !== '') ?? []) {
    r.log.warn(`${r.what}: ${r.dir} holds ${name}: a server running with appendonly yes loads that instead of ${RDB_ARTIFACT}; move it aside before the restore`);
  }
}
