/** `lifeboat report`: the latest backup, verify and drill per source, with their ages. */
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { findConfigFile, loadConfig } from '../../config/loader.ts';
import { loadLatestReport } from '../../app/reports.ts';
import type { DrillReport, VerifyReport } from '../../app/assurance.ts';
import type { RunReport } from '../../ops/run-report.ts';
import { formatDuration } from '../output.ts';

function age(iso: string | undefined, now: number): string {
  return iso ? `${formatDuration(now - Date.parse(iso))} ago` : 'never';
}

export function registerReport(program: Command, ctx: CliContext): void {
  program
    .command('report')
    .description('show the latest backup, verify and drill of every source, with their ages')
    .action(async () => {
      const loaded = await loadConfig(findConfigFile(ctx.globals().config, ctx.env), { env: ctx.env });
      const [backup, verify, drill] = await Promise.all([
        loadLatestReport<RunReport>(loaded.stateDir, 'backup'),
        loadLatestReport<VerifyReport>(loaded.stateDir, 'verify'),
        loadLatestReport<DrillReport>(loaded.stateDir, 'drill'),
      ]);
      const now = Date.now();
      const rows = loaded.sources.map(({ name }) => {
        const b = backup?.sources.find((s) => s.source === name);
        const v = verify?.sources.find((s) => s.source === name);
        const d = drill?.sources.find((s) => s.source === name);
        return {
          source: name,
          backup: b ? { status: b.status, at: backup?.finished_at, snapshot_id: b.snapshot_id, error: b.error } : undefined,
          verify: v ? { status: v.status, at: verify?.finished_at, problems: v.problems } : undefined,
          drill: d ? { status: d.status, at: drill?.finished_at, rto_ms: d.rto_ms, rpo_ms: d.rpo_ms, cause: d.cause } : undefined,
        };
      });
      ctx.out.result({ state_dir: loaded.stateDir, sources: rows });
      ctx.out.table(
        ['Source', 'Last backup', 'Verify', 'Drill', 'RTO', 'RPO'],
        rows.map((r) => [
          r.source,
          r.backup ? `${r.backup.status} ${age(r.backup.at, now)}` : 'never',
          r.verify ? `${r.verify.status} ${age(r.verify.at, now)}` : 'never',
          r.drill ? `${r.drill.status} ${age(r.drill.at, now)}` : 'never',
          r.drill?.rto_ms !== undefined ? formatDuration(r.drill.rto_ms) : '-',
          r.drill ? formatDuration(r.drill.rpo_ms) : '-',
        ]),
      );
    });
}
