/**
 * The cleanup registry: every throwaway server process group and temp directory the tests
 * create is registered here, and whatever is still registered when the test process ends is
 * killed and removed.
 *
 * The exit path must be synchronous: a process 'exit' listener cannot await, and after
 * SIGINT/SIGTERM nothing else runs. So the registry only holds process-group ids and paths,
 * and cleanup is `process.kill(-pgid, 'SIGKILL')` plus `rmSync`. Servers are spawned
 * detached (their own process group), which is why the group id is the leader's pid and why
 * one kill also reaches their children (postgres backends, for example).
 *
 * A SIGKILL of the test process itself cannot be caught; nothing here can help with that.
 */
import { readdirSync, readFileSync, rmSync } from 'node:fs';

export interface CleanupEntry {
  readonly label: string;
  /** Process-group id to SIGKILL (a detached child's pid), if any. */
  pgid?: number;
  /** Directory to remove recursively, if any. */
  dir?: string;
  /**
   * Runs once the processes are dead and before the directory is removed: releases what a
   * crashed server leaves outside its directory (PostgreSQL's System V segment). Must be
   * synchronous, it also runs in the exit hook.
   */
  afterDeathSync?: () => void;
}

const entries = new Set<CleanupEntry>();
let installed = false;

/** Kills a whole process group; a group that is already gone is not an error. */
export function killGroup(pgid: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  try {
    process.kill(-pgid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/**
 * True while any process of the group is alive. Zombies do not count: a killed server's
 * children are re-parented to init, which may take a moment to reap them, and until then a
 * signal-0 probe of the group still succeeds. So /proc is read where it exists.
 */
export function groupAlive(pgid: number): boolean {
  let pids: string[] | undefined;
  try {
    pids = readdirSync('/proc').filter((n) => /^\d+$/.test(n));
  } catch {
    pids = undefined;
  }
  if (pids !== undefined) {
    for (const pid of pids) {
      let stat: string;
      try {
        stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      } catch {
        continue; // exited while we looked
      }
      // "pid (comm) state ppid pgrp ...": comm may contain spaces and parentheses, so split after the last ')'.
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(pgrp) === pgid && state !== 'Z' && state !== 'X') return true;
    }
    return false;
  }
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function cleanupEntrySync(entry: CleanupEntry): void {
  if (entry.pgid !== undefined) {
    try {
      killGroup(entry.pgid);
    } catch {
      // Best effort on the way out: one stubborn entry must not keep the rest alive.
    }
  }
  try {
    entry.afterDeathSync?.();
  } catch {
    // Same: keep going.
  }
  if (entry.dir !== undefined) {
    try {
      rmSync(entry.dir, { recursive: true, force: true, maxRetries: 3 });
    } catch {
      // Same: keep going with the other entries.
    }
  }
}

/**
 * Blocks (up to `limitMs`) until no process of the groups is alive. SIGKILL is delivered
 * asynchronously; without this wait a server could still hold its port for a moment after
 * the test process has gone.
 */
function waitGroupsGoneSync(pgids: number[], limitMs = 5000): void {
  const deadline = Date.now() + limitMs;
  const cell = new Int32Array(new SharedArrayBuffer(4));
  let alive = pgids;
  while (alive.length > 0 && Date.now() < deadline) {
    Atomics.wait(cell, 0, 0, 10); // a synchronous 10 ms sleep
    alive = alive.filter((pgid) => groupAlive(pgid));
  }
}

/** Kills and removes everything still registered. Synchronous, safe to call repeatedly. */
export function cleanupAllSync(): void {
  const all = [...entries];
  entries.clear();
  const pgids: number[] = [];
  for (const entry of all) {
    if (entry.pgid === undefined) continue;
    try {
      killGroup(entry.pgid);
      pgids.push(entry.pgid);
    } catch {
      // Best effort on the way out: one stubborn entry must not keep the rest alive.
    }
  }
  waitGroupsGoneSync(pgids);
  for (const entry of all) cleanupEntrySync({ ...entry, pgid: undefined });
}

function onSignal(signal: NodeJS.Signals): void {
  cleanupAllSync();
  // Restore the default action and re-raise, so the exit status still says "killed by signal".
  // If someone else (a test runner) also listens, the signal is theirs to act on.
  process.removeListener('SIGINT', onSignal);
  process.removeListener('SIGTERM', onSignal);
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', cleanupAllSync);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

/** Registers something to clean up at exit; returns the entry to pass to `unregister`. */
export function register(entry: CleanupEntry): CleanupEntry {
  install();
  entries.add(entry);
  return entry;
}

/** Forgets an entry (its owner cleaned it up itself). */
export function unregister(entry: CleanupEntry): void {
  entries.delete(entry);
}

/** Number of live entries; tests use it to prove stop() unregisters. */
export function registeredCount(): number {
  return entries.size;
}
