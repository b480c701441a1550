/** `lifeboat config check`: validates lifeboat.yml and prints the resolved plan, secrets masked. */
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { findConfigFile, loadConfig } from '../../config/loader.ts';
import { describeConfig } from '../../config/describe.ts';

export function registerConfig(program: Command, ctx: CliContext): void {
  const config = program.command('config').description('lifeboat.yml tools');
  config
    .command('check')
    .description('validate lifeboat.yml and print the resolved plan (secrets masked)')
    .action(async () => {
      const file = findConfigFile(ctx.globals().config, ctx.env);
      const loaded = await loadConfig(file, { env: ctx.env });
      const d = describeConfig(loaded);
      ctx.out.result(d);
      if (ctx.out.json) return;
      ctx.out.line(`${loaded.file}: ok`);
      ctx.out.raw(JSON.stringify(d, null, 2) + '\n');
    });
}
