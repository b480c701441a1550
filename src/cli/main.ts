/**
 * The lifeboat command line: parses arguments, runs one command, prints its result and maps
 * any error to an exit code (cli/exit-codes.ts). `main` returns the exit code; only bin/
 * calls process.exit.
 */
import { Command, CommanderError, Option } from 'commander';
import { UsageError, CancelledError } from '../core/errors.ts';
import { ExitCode, exitCodeFor } from './exit-codes.ts';
import { Output } from './output.ts';
import type { CliContext, GlobalOptions } from './context.ts';
import { commands } from './commands/index.ts';
import { VERSION } from '../version.ts';

export interface MainOptions {
  env?: NodeJS.ProcessEnv;
  stdout?: NodeJS.WritableStream & { isTTY?: boolean };
  stderr?: NodeJS.WritableStream & { isTTY?: boolean };
  signal?: AbortSignal;
}

export function buildProgram(ctx: CliContext): Command {
  const program = new Command('lifeboat')
    .description('Back up every data store of a stack into a restic-format repository; restore and drill it.')
    .version(VERSION, '-V, --version', 'print the version')
    .addOption(new Option('--json', 'print machine-readable JSON instead of text').default(false))
    .addOption(new Option('-r, --repo <url>', 'repository (local:/path, /path; env LIFEBOAT_REPOSITORY)'))
    .addOption(new Option('-c, --config <file>', 'lifeboat.yml to use (env LIFEBOAT_CONFIG)'))
    .addOption(new Option('-p, --password-file <file>', 'read the repository password from a file (env LIFEBOAT_PASSWORD_FILE)'))
    .addOption(new Option('--password-command <cmd>', 'run a command that prints the repository password (env LIFEBOAT_PASSWORD_COMMAND)'))
    .addOption(new Option('-q, --quiet', 'print only errors').default(false))
    .addOption(new Option('--debug', 'print stack traces and debug details').default(false))
    .showHelpAfterError('(run "lifeboat --help" for usage)')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => ctx.out.raw(s),
      writeErr: (s) => ctx.out.raw(s),
      outputError: () => undefined, // usage errors are printed by main() as one line
    });
  for (const register of commands) register(program, ctx);
  return program;
}

export async function main(argv: string[], opts: MainOptions = {}): Promise<number> {
  const env = opts.env ?? process.env;
  const wantsJson = argv.includes('--json');
  const wantsDebug = argv.includes('--debug');
  let out = new Output({ json: wantsJson, debug: wantsDebug, stdout: opts.stdout, stderr: opts.stderr });
  let exitCode: number = ExitCode.ok;
  const holder: { program?: Command } = {};
  const ctx: CliContext = {
    get out() {
      return out;
    },
    env,
    signal: opts.signal ?? new AbortController().signal,
    globals(): GlobalOptions {
      const o = holder.program?.opts() ?? {};
      return {
        json: o.json === true,
        debug: o.debug === true,
        quiet: o.quiet === true,
        repo: o.repo as string | undefined,
        config: o.config as string | undefined,
        passwordFile: o.passwordFile as string | undefined,
        passwordCommand: o.passwordCommand as string | undefined,
      };
    },
    setExitCode(code: number) {
      exitCode = code;
    },
  };
  const program = buildProgram(ctx);
  holder.program = program;
  program.hook('preAction', () => {
    const g = ctx.globals();
    out = new Output({ json: g.json, debug: g.debug, quiet: g.quiet, stdout: opts.stdout, stderr: opts.stderr });
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end parsing with a "success" CommanderError.
      if (err.exitCode === 0) return ExitCode.ok;
      const message = err.message.replace(/^error: /, '');
      out.error(new UsageError(message, { hint: 'run "lifeboat --help" for usage' }));
      return ExitCode.usage;
    }
    if (ctx.signal.aborted && !(err instanceof CancelledError)) {
      out.error(new CancelledError('interrupted', { cause: err }));
      return ExitCode.cancelled;
    }
    out.error(err);
    return exitCodeFor(err);
  }
}
