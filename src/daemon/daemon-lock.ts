/**
 * One daemon per state directory: two would run every job twice (the repository's locks keep
 * the data safe, but alerts and the catalog would double). `<state_dir>/daemon.pid` is created
 * exclusively; a file left by a daemon that died (its pid no longer runs) is taken over.
 */
import { openSync, readFileSync, unlinkSync, writeSync, closeSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { LifeboatError } from '../core/errors.ts';

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it runs, as another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes the state directory for this process; returns the release function. */
export function lockStateDir(stateDir: string): () => void {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const file = path.join(stateDir, 'daemon.pid');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o644);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => {
        try {
          if (readFileSync(file, 'utf8').trim() === String(process.pid)) unlinkSync(file);
        } catch {
          // already gone: nothing to release
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number(readFileSync(file, 'utf8').trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isRunning(pid)) {
        throw new LifeboatError('daemon_running', `another lifeboat daemon (pid ${pid}) is using the state directory ${stateDir}`, {
          hint: `stop it first, or give this one its own state_dir; remove ${file} if pid ${pid} is not lifeboat`,
        });
      }
      unlinkSync(file); // left by a daemon that is gone
    }
  }
  throw new LifeboatError('daemon_running', `cannot take ${file}`, { hint: 'another daemon is starting at the same time' });
}
