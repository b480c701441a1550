/**
 * `lifeboat metrics [--textfile FILE]`: the daemon's Prometheus metrics for those who run
 * lifeboat from cron, built from the run reports in the state directory. Without --textfile
 * they are printed; with it, written atomically for node_exporter's textfile collector.
 */
import { rename, writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { withStack } from '../stack-access.ts';

export function registerMetrics(program: Command, ctx: CliContext): void {
  program
    .command('metrics')
    .description('print the Prometheus metrics of the runs recorded in the state directory (for cron; the daemon serves /metrics)')
    .option('--textfile <file>', 'write them atomically to this file instead (node_exporter textfile collector)')
    .action(async (flags: { textfile?: string }) => {
      await withStack(ctx, async (stack) => {
        const { metricsFromReports } = await import('../../daemon/report-metrics.ts');
        const { renderPrometheus } = await import('../../daemon/prometheus-text.ts');
        const text = renderPrometheus(await metricsFromReports(stack));
        if (!flags.textfile) return ctx.out.raw(text);
        await writeFile(`${flags.textfile}.tmp`, text, { mode: 0o644 });
        await rename(`${flags.textfile}.tmp`, flags.textfile);
      });
    });
}
