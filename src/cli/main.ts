/**
 * The lifeboat command line: parses arguments, runs one command, prints its result and maps
 * any error to an exit code (cli/exit-codes.ts). `main` returns the exit code; only bin/
 * calls process.exit.
 *
 * Start-up cost matters (every scheduled backup, every `snapshots` pays it), so only the
 * module of the command on the command line is loaded (commands/index.ts), and Node's
 * on-disk compile cache keeps the type-stripped and compiled sources between runs.
 */
import { enableCompileCache } from 'node:module';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { parseGoDuration } from '../util/schedule.ts';
import { UsageError, CancelledError } from '../core/errors.ts';
import { EXIT_CODE_HELP, ExitCode, exitCodeFor } from './exit-codes.ts';
import { Output } from './output.ts';
import { withResticFallbacks } from './restic-env.ts';
import type { CliContext, GlobalOptions } from './context.ts';
import { commandNames, loadCommands } from './commands/index.ts';
import { addExamples } from './examples.ts';
import { locationExamples } from '../storage/registry.ts';
import { VERSION } from '../version.ts';

export interface MainOptions {
  env?: NodeJS.ProcessEnv;
  stdout?: NodeJS.WritableStream & { isTTY?: boolean };
  stderr?: NodeJS.WritableStream & { isTTY?: boolean };
  signal?: AbortSignal;
}

/** Global options of `buildProgram` that take a value (the next argument, unless `=`-joined). */
const VALUE_OPTIONS = new Set(['-r', '--repo', '-c', '--config', '-p', '--password-file', '--password-command', '--retry-lock', '--limit-upload', '--limit-download']);
const FLAG_OPTIONS = new Set(['--json', '-q', '--quiet', '--debug']);

/**
 * The command named on the command line, when it can be told for sure without commander;
 * undefined means "load every command" (help, version, unknown command, unusual options).
 */
export function commandOf(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (VALUE_OPTIONS.has(a)) {
      i++;
      continue;
    }
    if (FLAG_OPTIONS.has(a) || /^--(repo|config|password-file|password-command|retry-lock|limit-upload|limit-download)=/.test(a)) continue;
    if (a.startsWith('-')) return undefined;
    return commandNames.includes(a) ? a : undefined;
  }
  return undefined;
}

/**
 * The program with the commands of `argv` registered: only the one it names when that is
 * clear, otherwise all (see commandOf). Without `argv`, all commands.
 */
export async function buildProgram(ctx: CliContext, argv?: readonly string[]): Promise<Command> {
  const name = argv === undefined ? undefined : commandOf(argv);
  const registers = await loadCommands(name === undefined ? undefined : [name]);
  const program = new Command('lifeboat')
    .description('Back up every data store of a stack into a restic-format repository; restore and drill it.')
    .version(VERSION, '-V, --version', 'print the version')
    .addOption(new Option('--json', 'print machine-readable JSON instead of text').default(false))
    .addOption(new Option('-r, --repo <url>', `repository (${locationExamples()}, or a plain path; env LIFEBOAT_REPOSITORY, else RESTIC_REPOSITORY or RESTIC_REPOSITORY_FILE)`))
    .addOption(new Option('-c, --config <file>', 'lifeboat.yml to use (env LIFEBOAT_CONFIG)'))
    .addOption(new Option('-p, --password-file <file>', 'read the repository password from a file (env LIFEBOAT_PASSWORD_FILE; RESTIC_PASSWORD* when no LIFEBOAT_PASSWORD* is set)'))
    .addOption(new Option('--password-command <cmd>', 'run a command that prints the repository password (env LIFEBOAT_PASSWORD_COMMAND)'))
    .addOption(new Option('--retry-lock <duration>', 'if the repository is locked, keep trying this long (e.g. 30s, 5m, 1h30m), as restic').argParser(parseRetryLock))
    .addOption(new Option('--limit-upload <KiB/s>', 'limit uploads to the repository to this rate, as restic').argParser(parseRate))
    .addOption(new Option('--limit-download <KiB/s>', 'limit downloads from the repository to this rate, as restic').argParser(parseRate))
    .addOption(new Option('-q, --quiet', 'print only errors').default(false))
    .addOption(new Option('--debug', 'print stack traces and debug details').default(false))
    .addHelpText('after', `\n${EXIT_CODE_HELP}\n`)
    .showHelpAfterError('(run "lifeboat --help" for usage)')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => ctx.out.raw(s),
      writeErr: (s) => ctx.out.raw(s),
      outputError: () => undefined, // usage errors are printed by main() as one line
    });
  for (const register of registers) register(program, ctx);
  addExamples(program);
  return program;
}

function parseRate(value: string): string {
  if (!/^\d+$/.test(value) || Number(value) === 0) throw new InvalidArgumentError(`"${value}" is not a whole number of KiB/s`);
  return value;
}

/** `--retry-lock` takes Go's durations, as restic's does. */
function parseRetryLock(value: string): number {
  try {
    return parseGoDuration(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

export async function main(argv: string[], opts: MainOptions = {}): Promise<number> {
  // Best effort: an unwritable cache directory only costs the start-up time it would save.
  // NODE_DISABLE_COMPILE_CACHE=1 turns it off.
  try {
    enableCompileCache();
  } catch {
    // older Node.js without the API, or no usable directory
  }
  let env: NodeJS.ProcessEnv;
  try {
    env = withResticFallbacks(opts.env ?? process.env);
  } catch (err) {
    new Output({ json: argv.includes('--json'), debug: argv.includes('--debug'), stdout: opts.stdout, stderr: opts.stderr }).error(err);
    return exitCodeFor(err);
  }
  const wantsJson = argv.includes('--json');
  const wantsDebug = argv.includes('--debug');
  let out = new Output({ json: wantsJson, debug: wantsDebug, stdout: opts.stdout, stderr: opts.stderr });
  let exitCode: number = ExitCode.ok;
  // A reader that goes away (`lifeboat ls latest | head`) is not a failure to report with a
  // stack trace: the work stops, and the exit code is the one of a process killed by SIGPIPE,
  // as restic's (a Go program) is.
  const pipeGone = new AbortController();
  const stdout = opts.stdout ?? process.stdout;
  const onOutError = (err: NodeJS.ErrnoException): void => {
    if (err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED') pipeGone.abort(err);
  };
  stdout.on('error', onOutError);
  const signal = AbortSignal.any([opts.signal ?? new AbortController().signal, pipeGone.signal]);
  const holder: { program?: Command; command?: string } = {};
  const ctx: CliContext = {
    get out() {
      return out;
    },
    env,
    signal,
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
        retryLockMs: (o.retryLock as number | undefined) ?? 0,
      };
    },
    setExitCode(code: number) {
      exitCode = code;
    },
    commandName() {
      return holder.command;
    },
  };
  const program = await buildProgram(ctx, argv);
  holder.program = program;
  program.hook('preAction', (_program, action) => {
    // The top-level command (`config check` → config), for what stack runs record.
    let top = action;
    while (top.parent && top.parent !== program) top = top.parent;
    holder.command = top.name();
    const g = ctx.globals();
    // The storage layer reads the limits where it opens a repository (app/repository-url.ts).
    const o = program.opts();
    if (o.limitUpload !== undefined) env.LIFEBOAT_LIMIT_UPLOAD = o.limitUpload as string;
    if (o.limitDownload !== undefined) env.LIFEBOAT_LIMIT_DOWNLOAD = o.limitDownload as string;
    out = new Output({ json: g.json, debug: g.debug, quiet: g.quiet, stdout: opts.stdout, stderr: opts.stderr });
  });
  // A promise that fails with nobody waiting on it (a bug: every failure should reach the
  // command) must not end the process with a stack trace before the command has released its
  // lock and removed its temporary files: it is kept, and fails a command that would succeed.
  let stray: { reason: unknown } | undefined;
  const onStray = (reason: unknown): void => {
    stray ??= { reason };
  };
  process.on('unhandledRejection', onStray);
  try {
    await program.parseAsync(argv, { from: 'user' });
    if (pipeGone.signal.aborted) return ExitCode.brokenPipe;
    if (stray !== undefined) {
      out.error(stray.reason);
      return Math.max(exitCodeFor(stray.reason), ExitCode.failure);
    }
    return exitCode;
  } catch (err) {
    if (pipeGone.signal.aborted) return ExitCode.brokenPipe;
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
  } finally {
    process.off('unhandledRejection', onStray);
  }
}
