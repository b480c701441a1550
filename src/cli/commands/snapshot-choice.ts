/**
 * How stack restore and drill are told which snapshots to use (`--at`, `--host`) and what
 * they say about the choice: on a repository several hosts back up into, the latest snapshot
 * of a source may come from another machine, so that is shown, never silent.
 */
import type { Command } from 'commander';
import { UsageError } from '../../core/errors.ts';
import { parseTimeArg } from '../../util/time.ts';
import type { CliContext } from '../context.ts';
import { collect } from './common.ts';

/** `--at TIME` → a Date, or a usage error naming the accepted forms. */
export function parseAt(text: string): Date {
  try {
    return parseTimeArg(text);
  } catch (err) {
    throw new UsageError(`--at ${(err as Error).message}`, { hint: 'a time with a zone is exact; one without is local time' });
  }
}

/** The stack-mode `--at` and `--host` options (for commands that do not have them yet). */
export function addChoiceOptions(cmd: Command): Command {
  return cmd
    .option('--at <time>', 'the latest snapshots taken at or before this time (2026-12-01T10:00+01:00, 2026-12-01 10:00 local, 2h ago)')
    .option('--host <host>', 'only snapshots taken on this host (repeatable; default: any host, as restic)', collect, []);
}

/** Warns when the chosen snapshots come from more than one host (shared repository). */
export function warnManyHosts(ctx: CliContext, chosen: Iterable<{ readonly hostname?: string }>): void {
  const hosts = [...new Set([...chosen].map((s) => s.hostname ?? '(unknown)'))].sort();
  if (hosts.length > 1) {
    ctx.out.warn(`the chosen snapshots come from ${hosts.length} hosts (${hosts.join(', ')}); pass --host NAME to restore one host's backups`);
  }
}
