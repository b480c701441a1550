/**
 * `lifeboat config check`: validates lifeboat.yml, resolves every secret it references (so a
 * missing variable or unreadable file shows before the night's backup, not during it) and
 * prints the resolved plan, secrets masked. Secret values are looked up, never shown.
 */
import path from 'node:path';
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { ConfigError, errorMessage } from '../../core/errors.ts';
import { findConfigFile, loadConfig } from '../../config/loader.ts';
import type { LoadedConfig } from '../../config/loader.ts';
import { describeConfig } from '../../config/describe.ts';
import { buildConfigSchema } from '../../config/schema.ts';
import { createSecretResolver, secretReferences } from '../../config/secrets.ts';

/** One line per secret that cannot be resolved; warnings (readable secret files) go to `warn`. */
async function unresolvedSecrets(loaded: LoadedConfig, env: NodeJS.ProcessEnv, warn: (m: string) => void): Promise<string[]> {
  const resolve = createSecretResolver({ env, baseDir: path.dirname(loaded.file), onWarning: warn });
  const refs = secretReferences(buildConfigSchema(), loaded.config);
  const failures: string[] = [];
  // One at a time: a password command may prompt.
  for (const { key, ref } of refs) {
    try {
      await resolve(ref, key);
    } catch (err) {
      failures.push(errorMessage(err));
    }
  }
  return failures;
}

export function registerConfig(program: Command, ctx: CliContext): void {
  const config = program.command('config').description('lifeboat.yml tools');
  config
    .command('check')
    .description('validate lifeboat.yml, resolve its secrets and print the resolved plan (secrets masked)')
    .action(async () => {
      const file = findConfigFile(ctx.globals().config, ctx.env);
      const loaded = await loadConfig(file, { env: ctx.env });
      const missing = await unresolvedSecrets(loaded, ctx.env, (m) => ctx.out.warn(m));
      if (missing.length > 0) {
        const head = `${loaded.file}: ${missing.length} secret${missing.length === 1 ? '' : 's'} cannot be resolved`;
        throw new ConfigError([head, ...missing].join('\n'), {
          file: loaded.file,
          hint: 'set the variables, create the files or fix the commands named above, then run "lifeboat config check" again',
          data: { missing },
        });
      }
      const d = describeConfig(loaded);
      ctx.out.result(d);
      if (ctx.out.json) return;
      ctx.out.line(`${loaded.file}: ok`);
      ctx.out.raw(JSON.stringify(d, null, 2) + '\n');
    });
}
