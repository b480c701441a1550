/**
 * Stops the containers that use a store around its backup or restore (an application that
 * must not write meanwhile), like docker-volume-backup's `stop-during-backup` label, and
 * starts them again afterwards: only those it stopped (one that was already stopped stays
 * stopped), in the reverse order (the list is written users first, so what they need is
 * started first), and also when the backup failed or was cancelled.
 */
import { TransportError, errorMessage } from '../core/errors.ts';
import type { DockerApi } from './docker-api.ts';
import { describeTarget, resolveContainerId } from './container-runner.ts';
import type { ContainerTarget } from './container-runner.ts';

/** Seconds a container gets to stop before the engine kills it. */
const STOP_TIMEOUT_S = 30;

/**
 * Stops every running container of `targets` in order; resolves with a function that starts
 * them again (never rejects: a container that does not start is in the returned errors).
 * When a stop fails, what was already stopped is started again before the error is thrown.
 */
export async function stopContainers(api: DockerApi, targets: readonly ContainerTarget[], log: (m: string) => void): Promise<() => Promise<string[]>> {
  const stopped: Array<{ id: string; what: string }> = [];
  const restart = async (): Promise<string[]> => {
    const errors: string[] = [];
    for (const s of [...stopped].reverse()) {
      try {
        await api.start(s.id);
        log(`started ${s.what} again`);
      } catch (err) {
        errors.push(`${s.what} did not start again: ${errorMessage(err)}; start it by hand`);
      }
    }
    return errors;
  };
  try {
    for (const t of targets) {
      const what = describeTarget(t);
      const id = await resolveContainerId(api, t);
      if (id === undefined) continue; // not running: nothing to stop, nothing to start
      await api.stop(id, STOP_TIMEOUT_S);
      stopped.push({ id, what });
      log(`stopped ${what}`);
    }
  } catch (err) {
    const errors = await restart();
    throw new TransportError('transport_failed', `stopping the containers around the run failed: ${errorMessage(err)}${errors.length ? `; ${errors.join('; ')}` : ''}`, { cause: err });
  }
  return restart;
}
