/**
 * `lifeboat drill [--only …]`: restores each source's latest backup into a scratch target that
 * never touches production, compares fingerprints, measures RTO and RPO against each source's
 * targets, always cleans up, and keeps a report. `--synthetic`: the populate → back up → wipe →
 * restore → verify rehearsal on throwaway stores only (proves the tool on this machine).
 */
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { LifeboatError } from '../../core/errors.ts';
import { drillStack } from '../../app/assurance.ts';
import { runRehearsal } from '../../app/demo/rehearsal.ts';
import { saveJsonReport } from '../../app/reports.ts';
import { resolveStateDir } from '../../config/paths.ts';
import { withStack } from '../stack-access.ts';
import { formatDuration } from '../output.ts';
import { rehearsalUi } from './demo.ts';
import { addChoiceOptions, parseAt, warnManyHosts } from './snapshot-choice.ts';
import { formatLocal } from '../../util/time.ts';
import type { StackSnapshot } from '../../core/snapshot-store.ts';
import { nowDate } from '../../util/clock.ts';

const dur = (ms: number | undefined): string => (ms === undefined ? '-' : formatDuration(ms));

export function registerDrill(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('drill')
    .description('restore the latest backups into scratch targets, compare fingerprints, measure RTO and RPO')
    .option('--only <sources>', 'only these sources (comma separated)')
    .option('--snapshot <id>', 'drill this snapshot instead of the latest')
    .option('--synthetic', 'rehearse on throwaway stores only: populate, back up, wipe, restore, verify');
  addChoiceOptions(cmd)
    .action(async (flags: { only?: string; snapshot?: string; synthetic?: boolean; at?: string; host: string[] }) => {
      if (flags.synthetic) return synthetic(ctx);
      const at = flags.at !== undefined ? parseAt(flags.at) : undefined;
      await withStack(ctx, async (stack, opts) => {
        const opened = await stack.openRepository('shared');
        try {
          const only = flags.only?.split(',').map((s) => s.trim()).filter(Boolean);
          const onPlan = (targets: ReadonlyArray<{ name: string; snap: StackSnapshot }>): void => {
            for (const { name, snap } of targets) ctx.out.line(`${name}: snapshot ${snap.id.slice(0, 8)} of ${snap.hostname ?? '(unknown host)'}, taken ${formatLocal(snap.date)}`);
            warnManyHosts(ctx, targets.map((t) => t.snap));
          };
          const r = await drillStack(stack, opened, { ...opts, only, snapshot: flags.snapshot, at, hosts: flags.host, onPlan, onSourceDone: (s) => ctx.out.progress(`${s.source}: ${s.status}`) });
          ctx.out.clearProgress();
          ctx.out.result(r);
          ctx.out.table(
            ['Source', 'Result', 'RTO', 'RTO target', 'RPO', 'RPO target', 'Scratch', 'Cause'],
            r.sources.map((s) => [s.source, s.status.toUpperCase(), dur(s.rto_ms), dur(s.rto_target_ms), dur(s.rpo_ms), dur(s.rpo_target_ms), s.mode === 'read' ? 'none (read only)' : s.cleanup === 'done' ? 'removed' : s.cleanup, s.cause ?? '']),
          );
          for (const s of r.sources) if (s.note) ctx.out.line(`${s.source}: ${s.note}`);
          ctx.out.line(`drill ${r.status === 'pass' ? 'passed' : 'FAILED'} for ${r.sources.length} source(s) in ${formatDuration(r.duration_ms)}; report in ${stack.loaded.stateDir}/reports`);
          if (r.status !== 'pass') {
            const bad = r.sources.filter((s) => s.status !== 'pass');
            throw new LifeboatError('drill_failed', `drill failed: ${bad.map((b) => `${b.source} (${b.cause ?? b.status})`).join('; ')}`, { hint: 'fix the causes above; production was not touched' });
          }
        } finally {
          await opened.close();
        }
      });
    });
}

async function synthetic(ctx: CliContext): Promise<void> {
  const r = await runRehearsal({ env: ctx.env, signal: ctx.signal, ui: rehearsalUi(ctx) });
  const stateDir = resolveStateDir(undefined, process.cwd(), ctx.env);
  const report = { kind: 'synthetic', finished_at: nowDate().toISOString(), ok: r.ok, sources: r.sources, backup: r.backup, verify: r.verify, restore: r.restore };
  const file = await saveJsonReport(stateDir, 'synthetic', report.finished_at, report);
  ctx.out.result(report);
  ctx.out.line(`synthetic drill ${r.ok ? 'passed' : 'FAILED'}; validation report: ${file}`);
  if (!r.ok) throw new LifeboatError('drill_failed', 'synthetic drill failed: restored data differs from the backup', { hint: 'see the tables above' });
}
