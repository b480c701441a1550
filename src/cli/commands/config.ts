/**
 * `lifeboat config check`: validates lifeboat.yml, resolves every secret it references (so a
 * missing variable or unreadable file shows before the night's backup, not during it) and
 * prints the resolved plan, secrets masked. Secret values are looked up, never shown.
 *
 * `lifeboat config init [FILE] [--detect]`: writes a commented starter lifeboat.yml, never
 * over an existing file; --detect adds the PostgreSQL, MariaDB and Redis answering on
 * 127.0.0.1's default ports.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { ConfigError, errorMessage } from '../../core/errors.ts';
import { findConfigFile, loadConfig } from '../../config/loader.ts';
import type { LoadedConfig } from '../../config/loader.ts';
import { describeConfig } from '../../config/describe.ts';
import { buildConfigSchema } from '../../config/schema.ts';
import { createSecretResolver, secretReferences } from '../../config/secrets.ts';
import { starterConfig } from '../../config/starter.ts';
import { detectStores } from '../../app/detect-stores.ts';

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
  config
    .command('init')
    .description('write a commented starter lifeboat.yml (never over an existing file)')
    .argument('[file]', 'where to write it (default: --config, $LIFEBOAT_CONFIG, else ./lifeboat.yml)')
    .option('--detect', 'add the PostgreSQL (5432), MariaDB (3306) and Redis (6379) that answer on 127.0.0.1')
    .action(async (fileArg: string | undefined, opts: { detect?: boolean }) => {
      const file = path.resolve(fileArg ?? ctx.globals().config ?? ctx.env.LIFEBOAT_CONFIG ?? 'lifeboat.yml');
      const stores = opts.detect === true ? await detectStores() : [];
      try {
        // 'wx': an existing file is never replaced, even one created since the check.
        await writeFile(file, starterConfig(stores, opts.detect === true), { flag: 'wx' });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EEXIST') {
          throw new ConfigError(`${file} already exists; lifeboat config init does not overwrite it`, {
            file,
            hint: 'check it with "lifeboat config check", or name another file: "lifeboat config init FILE"',
          });
        }
        throw new ConfigError(`cannot write ${file}: ${code ?? errorMessage(err)}`, { file, cause: err, hint: 'choose a directory you may write to' });
      }
      const sources = stores.map((s) => `${s.kind} on ${s.host}:${s.port}`);
      ctx.out.result({ message_type: 'config_init', file, sources });
      if (ctx.out.json) return;
      ctx.out.line(`wrote ${file}${sources.length > 0 ? ` with ${sources.join(', ')}` : ''}`);
      ctx.out.line('next: edit it, set LIFEBOAT_PASSWORD, run "lifeboat config check", then "lifeboat init" and "lifeboat backup"');
    });
}
