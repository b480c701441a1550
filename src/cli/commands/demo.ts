/**
 * `lifeboat demo`: lifeboat's main job on throwaway stores, no set-up needed (see
 * app/demo/rehearsal.ts): PostgreSQL and Redis where installed, SQLite and files always;
 * back up, verify, wipe, restore in dependency order, fingerprints compared.
 */
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { LifeboatError } from '../../core/errors.ts';
import { runRehearsal } from '../../app/demo/rehearsal.ts';
import type { RehearsalUi } from '../../app/demo/rehearsal.ts';
import { VERSION } from '../../version.ts';
import { formatDuration } from '../output.ts';
import { printResults } from '../stack-access.ts';
import { nowMs } from '../../util/clock.ts';

export function rehearsalUi(ctx: CliContext): RehearsalUi {
  const out = ctx.out;
  return {
    async step(name, fn, describe = () => '') {
      const t0 = nowMs();
      out.progress(`${name}…`);
      const v = await fn();
      out.clearProgress();
      out.line(`✔ ${name.padEnd(38)} ${describe(v)}  (${formatDuration(nowMs() - t0)})`);
      return v;
    },
    line: (t) => out.line(t),
    warn: (t) => out.warn(t),
    progress: (t) => out.progress(t),
    results: (r, kind) => printResults(ctx, r.sources, kind),
  };
}

export function registerDemo(program: Command, ctx: CliContext): void {
  program
    .command('demo')
    .description('back up, verify, wipe and restore a throwaway stack (PostgreSQL, Redis, SQLite, files) and compare fingerprints')
    .option('--keep', 'keep the scratch directory and print where it is')
    .action(async (flags: { keep?: boolean }) => {
      ctx.out.line(`lifeboat ${VERSION} demo`);
      const r = await runRehearsal({ env: ctx.env, signal: ctx.signal, keep: flags.keep, ui: rehearsalUi(ctx) });
      ctx.out.result(r);
      if (!r.ok) throw new LifeboatError('demo', 'the demo restore did not match the backup; see the tables above');
      ctx.out.line('');
      ctx.out.line('Every store was restored and matches the fingerprint recorded at backup time.');
      ctx.out.line('The repository is restic format v2: restic can list and restore it too.');
    });
}
