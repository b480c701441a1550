/**
 * Prompt release of large short-lived buffers.
 *
 * V8 frees a dead ArrayBuffer's memory only when a garbage collection finds it, and the
 * JavaScript objects around blob buffers are so small that the young generation rarely
 * fills: a collection comes only once about 64 MiB more external memory is held than after
 * the last one. A backup or restore makes a few buffers of each blob's size per blob on
 * every thread, so each thread would carry tens of MiB of dead buffers. `noteGarbage` counts
 * the bytes a thread has let go of and, every GARBAGE_STEP bytes, runs a minor (young
 * generation) collection, which costs about a millisecond and frees them.
 *
 * The collector is reached by enabling `--expose-gc` at run time and taking `gc` from a
 * fresh context; where that is not possible this does nothing and V8's own schedule applies.
 */
import v8 from 'node:v8';
import vm from 'node:vm';

const GARBAGE_STEP = 24 * 1024 * 1024;

type GcFunction = (opts?: { type?: 'major' | 'minor'; execution?: 'sync' | 'async' }) => void;

let collect: GcFunction | null | undefined;
let pending = 0;

function collector(): GcFunction | null {
  if (collect === undefined) {
    try {
      v8.setFlagsFromString('--expose-gc');
      const fn: unknown = vm.runInNewContext('gc');
      collect = typeof fn === 'function' ? (fn as GcFunction) : null;
    } catch {
      collect = null;
    }
  }
  return collect;
}

/** Records that `bytes` of buffers were just dropped; collects young garbage now and then. */
export function noteGarbage(bytes: number): void {
  pending += bytes;
  if (pending < GARBAGE_STEP) return;
  pending = 0;
  collector()?.({ type: 'minor' });
}
