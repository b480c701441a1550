/**
 * `lifeboat report`: every source of lifeboat.yml with its last backup (time with its zone and
 * age, against its `rpo`), verify and drill, from the run reports in the state directory or,
 * for sources this host has no history of, from the repository's snapshots. Exits 4 when a
 * source needs attention (overdue, never backed up, last backup/verify/drill failed) or the
 * last run of a kind failed outright, so a scheduler or monitor can alert on it.
 */
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { LifeboatError, errorMessage } from '../../core/errors.ts';
import { findConfigFile, loadConfig } from '../../config/loader.ts';
import type { LoadedConfig } from '../../config/loader.ts';
import { sourceStatuses } from '../../app/source-status.ts';
import type { RepositorySnapshot } from '../../app/source-status.ts';
import { parseDurationMs } from '../../sources/source-kit.ts';
import { formatLocal } from '../../util/time.ts';
import { formatDuration } from '../output.ts';
import { nowDate } from '../../util/clock.ts';

function when(iso: string | undefined, now: number): string {
  return iso ? `${formatLocal(new Date(iso))} (${formatDuration(Math.max(0, now - Date.parse(iso)))} ago)` : 'never';
}

/** The newest snapshot of each source in the repository (no lock: it only reads snapshots). */
async function latestInRepository(ctx: CliContext, loaded: LoadedConfig, names: string[]): Promise<Map<string, RepositorySnapshot>> {
  const out = new Map<string, RepositorySnapshot>();
  try {
    const { openStack, snapshotStoreOf } = await import('../../app/stack.ts');
    const { openRepositoryAt } = await import('../../app/open-repository.ts');
    const { latestPerSource } = await import('../../ops/snapshot-choice.ts');
    const stack = await openStack({ configFile: loaded.file, env: ctx.env, signal: ctx.signal, log: { info: () => undefined, warn: (m) => ctx.out.warn(m) } });
    const password = await stack.secrets(loaded.config.repository.password, 'repository.password');
    const opened = await openRepositoryAt(stack.repositoryLocation(), password, { lock: 'none', loadIndex: false, signal: ctx.signal, env: ctx.env });
    try {
      // A pre-restore safety snapshot is what a restore replaced, not a scheduled backup.
      for (const [name, s] of latestPerSource(await snapshotStoreOf(opened).list({ signal: ctx.signal }), names)) out.set(name, { id: s.id, time: s.date, hostname: s.hostname });
    } finally {
      await opened.close();
    }
  } catch (err) {
    ctx.out.warn(`the state directory has no backup history of ${names.join(', ')} and the repository cannot be read for it: ${errorMessage(err)}`);
  }
  return out;
}

export function registerReport(program: Command, ctx: CliContext): void {
  program
    .command('report')
    .description('show every source\'s last backup (age against its rpo), verify and drill; exit 4 when one needs attention')
    .option('--no-repository', 'use the state directory only, even for sources it has no history of')
    .action(async (flags: { repository: boolean }) => {
      const loaded = await loadConfig(findConfigFile(ctx.globals().config, ctx.env), { env: ctx.env });
      const now = nowDate();
      const sources = loaded.sources.map(({ name, config }) => ({ name, rpoMs: config.rpo ? parseDurationMs(config.rpo) : undefined }));
      const status = await sourceStatuses(loaded.stateDir, sources, {
        now,
        latestSnapshots: flags.repository ? (names) => latestInRepository(ctx, loaded, names) : undefined,
      });
      ctx.out.result({ state_dir: loaded.stateDir, generated_at: formatLocal(now), ...status });
      const t = now.getTime();
      ctx.out.table(
        ['Source', 'Last backup', 'RPO', 'Verify', 'Drill', 'State'],
        status.sources.map((s) => [
          s.source,
          s.backup ? `${s.backup.status} ${when(s.backup.at, t)}${s.backup.from === 'repository' ? ` [repository${s.backup.host ? `, ${s.backup.host}` : ''}]` : ''}` : 'never',
          s.rpo_ms !== undefined ? formatDuration(s.rpo_ms) : '-',
          s.verify ? `${s.verify.status} ${when(s.verify.at, t)}` : 'never',
          s.drill ? `${s.drill.status} ${when(s.drill.at, t)}` : 'never',
          s.attention.length === 0 ? 'ok' : `ATTENTION: ${s.attention.join('; ')}`,
        ]),
      );
      for (const f of status.failed_runs) ctx.out.line(`the last ${f.kind} run (${when(f.at, t)}) FAILED: ${f.error}`);
      const needy = status.sources.filter((s) => s.attention.length > 0);
      if (needy.length > 0 || status.failed_runs.length > 0) {
        const parts = [
          ...needy.map((s) => `${s.source} (${s.attention.join('; ')})`),
          ...status.failed_runs.map((f) => `the last ${f.kind} run failed`),
        ];
        throw new LifeboatError('report_attention', `needs attention: ${parts.join(', ')}`, {
          hint: 'run the failed or overdue backups ("lifeboat backup --only NAME"), then "lifeboat report" again',
          data: { sources: needy.map((s) => s.source), failed_runs: status.failed_runs },
        });
      }
    });
}
