/**
 * The `command` source: the escape hatch for every store lifeboat has no adapter for yet
 * (n8n export, a Qdrant snapshot fetched with curl, a Vault raft snapshot…). Three shell
 * commands, each run through deps.runner with `bash -o pipefail -c` (so `dump | gzip` fails when
 * dump fails), or `/bin/sh -c` where there is no bash (Debian's dash has no pipefail):
 *
 * - `backup_command` writes the backup to stdout; it is streamed straight into one artifact
 *   (`artifact`, default "stdout"). A non-zero exit or death by a signal fails the backup, with
 *   the last lines of stderr in the error. An empty output fails it too (a dump that printed
 *   nothing is almost always a producer that failed quietly), unless `allow_empty: true`.
 * - `restore_command` reads the backup on stdin. If it exits before reading everything, its
 *   exit status decides: non-zero is a failed restore; zero is taken at its word with a warning.
 * - `fingerprint_command` (optional) prints a description of the live data (counts, a version,
 *   a hash); its trimmed stdout is the fingerprint `{ value }`. Without it the fingerprint is
 *   `{ artifact, size, sha256 }` of the backup stream, and the live fingerprint runs
 *   backup_command again and hashes its output without storing it. That compares equal only
 *   for a deterministic export (same data, same bytes); exports that embed a timestamp or a
 *   random order need a fingerprint_command.
 *
 * An alternative target (`to`) reaches restore_command and fingerprint_command (or, without
 * one, backup_command) as $LIFEBOAT_RESTORE_TO; a command that does not mention it is refused
 * rather than let loose on the live store.
 *
 * verify can only read the artifact to its end (the reader checks its SHA-256 on the way): what
 * the bytes mean is the commands' business. A drill restores into a fresh temp dir under
 * deps.tmpDir passed as $LIFEBOAT_RESTORE_TO when restore_command and the fingerprint command
 * (fingerprint_command, else backup_command) both use it. Otherwise the commands can only act
 * on the live store, so the drill runs none of them: its "restore" reads the artifact to its
 * end and checks size and SHA-256 against the snapshot (mode `read` in the drill report).
 *
 * `env` and the resolved `secret_env` go into the commands' environment, never into argv.
 * Errors and logs never show the environment, and any secret value a command echoes on stderr
 * is masked before stderr is quoted.
 */
import { createHash, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { describeCommand } from '../../core/command-runner.ts';
import type { RunSpec, RunningCommand } from '../../core/command-runner.ts';
import { CancelledError, IntegrityError, NotFoundError, SourceError, errorMessage } from '../../core/errors.ts';
import type {
  ArtifactReader, ArtifactSink, BackupOutcome, Fingerprint, RestoreOptions, ScratchTarget, Source, SourceContext, VerifyResult,
} from '../../core/source.ts';
import { sourceTimeouts } from '../source-kit.ts';
import { watchIdle } from '../process-kit.ts';
import type { SourceDeps, SourceTimeouts, SourceType } from '../source-kit.ts';
import { release } from '../../util/memory.ts';
import { commandKeys } from './command-config.ts';
import type { CommandConfig } from './command-config.ts';

const DEFAULT_ARTIFACT = 'stdout';
/** Lines of stderr quoted in an error message. */
const STDERR_LINES = 10;
/** A fingerprint is a summary; more output than this is a misconfigured command. */
const MAX_FINGERPRINT_OUTPUT = 64 * 1024;
const MASK = '***';
/** Where `restore --to` / `fingerprint --to` point the commands. */
const TARGET_VAR = 'LIFEBOAT_RESTORE_TO';

type CommandKey = 'backup_command' | 'restore_command' | 'fingerprint_command';
type ExitStatus = Awaited<RunningCommand['done']>;

interface Environment {
  readonly env: Record<string, string>;
  /** Secret values, to mask in anything quoted from the commands. */
  readonly secrets: readonly string[];
}

const failed = (s: ExitStatus): boolean => s.code !== 0 || s.signal !== null;

let shell: { command: string; args: string[] } | undefined;
/** bash with pipefail when installed; /bin/sh otherwise (POSIX sh before 2024 has no pipefail). */
function commandShell(): { command: string; args: string[] } {
  shell ??= ['/bin/bash', '/usr/bin/bash'].map((b) => (existsSync(b) ? { command: b, args: ['-o', 'pipefail', '-c'] } : undefined)).find((x) => x !== undefined)
    ?? { command: '/bin/sh', args: ['-c'] };
  return shell;
}

/**
 * Writes a stream into a child's stdin. Resolves with `closedEarly` when the child closed its
 * stdin (exited, or stopped reading) before taking everything: that is the EPIPE case, and the
 * child's exit status tells whether it is an error.
 */
async function feed(data: AsyncIterable<Uint8Array>, stdin: Writable): Promise<{ bytes: number; closedEarly: boolean }> {
  let bytes = 0;
  const writable = (): Promise<boolean> =>
    new Promise((resolve) => {
      const finish = (ok: boolean) => (): void => {
        stdin.off('drain', onDrain);
        stdin.off('close', onGone);
        stdin.off('error', onGone);
        resolve(ok);
      };
      const onDrain = finish(true);
      const onGone = finish(false);
      stdin.on('drain', onDrain);
      stdin.on('close', onGone);
      stdin.on('error', onGone);
    });
  for await (const chunk of data) {
    if (stdin.destroyed) return { bytes, closedEarly: true };
    // The reader's pieces are ours: free each once the pipe took it, not at the next collection.
    const more = stdin.write(chunk, () => release(chunk));
    bytes += chunk.length;
    if (!more && !(await writable())) return { bytes, closedEarly: true };
  }
  if (stdin.destroyed) return { bytes, closedEarly: true };
  const ended = await new Promise<boolean>((resolve) => {
    stdin.once('error', () => resolve(false));
    stdin.end(() => resolve(stdin.errored === null));
  });
  return { bytes, closedEarly: !ended };
}

export class CommandSource implements Source {
  readonly name: string;
  readonly type = 'command';
  readonly #config: CommandConfig;
  readonly #deps: SourceDeps;
  /** Drill targets that only read the backup (see scratchTarget). */
  readonly #readOnlyTargets = new Set<string>();
  readonly #timeouts: SourceTimeouts;

  constructor(name: string, config: CommandConfig, deps: SourceDeps) {
    this.name = name;
    this.#config = config;
    this.#deps = deps;
    this.#timeouts = sourceTimeouts(config);
  }

  get #artifact(): string {
    return this.#config.artifact ?? DEFAULT_ARTIFACT;
  }

  #cancelled(what: string, cause?: unknown): CancelledError {
    return new CancelledError(`${what} of source ${this.name} cancelled`, cause === undefined ? {} : { cause });
  }

  /** Secrets are resolved per operation, so a rotated token is picked up by the next run. */
  async #environment(): Promise<Environment> {
    const env: Record<string, string> = { ...this.#config.env };
    const secrets: string[] = [];
    for (const [key, ref] of Object.entries(this.#config.secret_env ?? {})) {
      const value = await this.#deps.secrets(ref, `secret_env ${key} of source ${this.name}`);
      env[key] = value;
      if (value !== '') secrets.push(value);
    }
    return { env, secrets };
  }

  #spec(key: CommandKey, env: Environment, signal: AbortSignal): RunSpec {
    const sh = commandShell();
    return { command: sh.command, args: [...sh.args, this.#config[key] ?? ''], env: env.env, signal };
  }

  /**
   * `to` reaches the commands as $LIFEBOAT_RESTORE_TO. A command that does not use it would
   * act on the live store while the caller believes it works on a copy, so that is refused.
   */
  #withTarget(key: CommandKey, env: Environment, opts: RestoreOptions | undefined): Environment {
    if (opts?.to === undefined) return env;
    if (!(this.#config[key] ?? '').includes(TARGET_VAR)) {
      throw new SourceError(`source ${this.name}: restore target \`to\` given, but ${key} does not use $${TARGET_VAR}`, {
        hint: `make ${key} act on "$${TARGET_VAR}" to support restores elsewhere, or restore in place`,
      });
    }
    return { env: { ...env.env, [TARGET_VAR]: opts.to }, secrets: env.secrets };
  }

  /** The error for a command that exited non-zero or was killed, quoting its stderr tail. */
  #failure(key: CommandKey, status: ExitStatus, env: Environment, extra = ''): SourceError {
    let tail = status.stderr;
    for (const s of env.secrets) tail = tail.split(s).join(MASK);
    const lines = tail.trimEnd().split('\n').slice(-STDERR_LINES).join('\n');
    const how = status.signal !== null ? `was killed by ${status.signal}` : `exited with code ${status.code}`;
    return new SourceError(`source ${this.name}: ${key} ${how}${extra}${lines ? `; stderr ends with:\n${lines}` : ''}`, {
      data: { command: key, exitCode: status.code, signal: status.signal, stderrTail: lines },
      hint: `run the ${key} of source ${this.name} by hand to see why it fails`,
    });
  }

  /** Runs a command with nothing on stdin and hands its stdout to `consume`. */
  async #run<T>(key: CommandKey, env: Environment, ctx: SourceContext, consume: (stdout: AsyncIterable<Uint8Array>) => Promise<T>): Promise<T> {
    const started = this.#deps.runner.start(this.#spec(key, env, ctx.signal));
    // A command may legitimately think for long before it writes: watched only when asked.
    const run = this.#timeouts.idleSet ? watchIdle(started, this.#timeouts.idleMs) : started;
    run.stdin.end();
    let result: T;
    try {
      result = await consume(run.stdout);
    } catch (err) {
      // The consumer (the sink, usually) gave up: stop the producer, which would block on a
      // full pipe otherwise.
      run.kill('SIGKILL');
      run.stdout.resume();
      await run.done;
      if (ctx.signal.aborted && !(err instanceof CancelledError)) throw this.#cancelled(key, err);
      throw err;
    }
    const status = await run.done;
    if (ctx.signal.aborted) throw this.#cancelled(key);
    if (failed(status)) throw this.#failure(key, status, env);
    return result;
  }

  async #runFingerprint(env: Environment, ctx: SourceContext): Promise<Fingerprint> {
    const out = await this.#run('fingerprint_command', env, ctx, async (stdout) => {
      const parts: Buffer[] = [];
      let size = 0;
      for await (const chunk of stdout) {
        size += chunk.length;
        if (size > MAX_FINGERPRINT_OUTPUT) {
          throw new SourceError(`source ${this.name}: fingerprint_command printed more than ${MAX_FINGERPRINT_OUTPUT} bytes`, {
            hint: 'print a short summary of the data (counts, a version, a hash), not the data itself',
          });
        }
        parts.push(Buffer.from(chunk));
      }
      return Buffer.concat(parts).toString('utf8').trim();
    });
    return { value: out };
  }

  async backup(sink: ArtifactSink, ctx: SourceContext): Promise<BackupOutcome> {
    if (ctx.signal.aborted) throw this.#cancelled('backup');
    const env = await this.#environment();
    const info = await this.#run('backup_command', env, ctx, (stdout) => sink.put(this.#artifact, stdout));
    if (info.size === 0 && this.#config.allow_empty !== true) {
      throw new SourceError(`source ${this.name}: backup_command exited with code 0 but printed nothing, so no snapshot was written (set allow_empty: true if an empty backup is valid)`, {
        hint: `check that backup_command writes the backup to stdout; if an empty backup is valid for this store, set allow_empty: true on source ${this.name}`,
      });
    }
    const commands = [describeCommand(this.#spec('backup_command', env, ctx.signal))];
    let fingerprint: Fingerprint;
    if (this.#config.fingerprint_command !== undefined) {
      fingerprint = await this.#runFingerprint(env, ctx);
      commands.push(describeCommand(this.#spec('fingerprint_command', env, ctx.signal)));
    } else {
      fingerprint = { artifact: this.#artifact, size: info.size, sha256: info.sha256 };
    }
    return { fingerprint, commands };
  }

  async fingerprint(ctx: SourceContext, opts?: RestoreOptions): Promise<Fingerprint> {
    if (ctx.signal.aborted) throw this.#cancelled('fingerprint');
    const key = this.#config.fingerprint_command !== undefined ? 'fingerprint_command' : 'backup_command';
    const env = this.#withTarget(key, await this.#environment(), opts);
    if (key === 'fingerprint_command') return this.#runFingerprint(env, ctx);
    return this.#run('backup_command', env, ctx, async (stdout) => {
      const h = createHash('sha256');
      let size = 0;
      for await (const chunk of stdout) {
        h.update(chunk);
        size += chunk.length;
      }
      return { artifact: this.#artifact, size, sha256: h.digest('hex') };
    });
  }

  #artifactName(reader: ArtifactReader): string {
    const names = reader.list().map((a) => a.name);
    if (names.includes(this.#artifact)) return this.#artifact;
    if (names.length === 1) return names[0];
    throw new NotFoundError(`source ${this.name}: the snapshot has no artifact ${this.#artifact} (it has ${names.join(', ') || 'none'})`, {
      hint: 'pick a snapshot of this command source, or set `artifact` to the name it was stored under',
    });
  }

  async restore(reader: ArtifactReader, ctx: SourceContext, opts?: RestoreOptions): Promise<void> {
    if (ctx.signal.aborted) throw this.#cancelled('restore');
    if (opts?.to !== undefined && this.#readOnlyTargets.has(opts.to)) return this.#readThrough(reader, ctx);
    const name = this.#artifactName(reader);
    const total = reader.list().find((a) => a.name === name)?.size;
    const env = this.#withTarget('restore_command', await this.#environment(), opts);
    const run = this.#deps.runner.start(this.#spec('restore_command', env, ctx.signal));
    run.stdout.resume(); // its output is not ours to keep, but it must not block on a full pipe
    let fed: { bytes: number; closedEarly: boolean };
    try {
      fed = await feed(reader.open(name), run.stdin);
    } catch (err) {
      // The backup could not be read (damaged blob, abort). Kill before closing stdin, so the
      // command never sees a clean end of a truncated input and commits half a restore.
      run.kill('SIGKILL');
      run.stdin.destroy();
      await run.done;
      if (ctx.signal.aborted && !(err instanceof CancelledError)) throw this.#cancelled('restore', err);
      throw err;
    }
    const status = await run.done;
    if (ctx.signal.aborted) throw this.#cancelled('restore');
    const early = fed.closedEarly ? ` before reading the whole backup (${fed.bytes}${total === undefined ? '' : ` of ${total}`} bytes written)` : '';
    if (failed(status)) throw this.#failure('restore_command', status, env, early);
    if (fed.closedEarly) ctx.log.warn(`source ${this.name}: restore_command exited with code 0${early}; check the restored data`);
    ctx.log.info(`source ${this.name}: restore_command read ${name}`);
  }

  /** Reads the artifact to its end; nothing more can be known about an opaque export. */
  async verify(reader: ArtifactReader, ctx: SourceContext): Promise<VerifyResult> {
    if (ctx.signal.aborted) throw this.#cancelled('verify');
    let name: string;
    try {
      name = this.#artifactName(reader);
    } catch (err) {
      return { checks: [], problems: [errorMessage(err)] };
    }
    let bytes = 0;
    try {
      for await (const chunk of reader.open(name)) {
        if (ctx.signal.aborted) throw this.#cancelled('verify');
        bytes += chunk.length;
      }
    } catch (err) {
      if (err instanceof CancelledError) throw err;
      return { checks: [], problems: [`${name}: cannot be read to its end: ${errorMessage(err)}`] };
    }
    return { checks: [`${name}: artifact readable to its end (${bytes} bytes); a command export has no format lifeboat can check`], problems: [] };
  }

  /** The read-only drill: the artifact read to its end, its size and SHA-256 checked. */
  async #readThrough(reader: ArtifactReader, ctx: SourceContext): Promise<void> {
    const name = this.#artifactName(reader);
    const expected = reader.list().find((a) => a.name === name);
    const h = createHash('sha256');
    let size = 0;
    for await (const chunk of reader.open(name)) {
      if (ctx.signal.aborted) throw this.#cancelled('drill');
      h.update(chunk);
      size += chunk.length;
    }
    const sha256 = h.digest('hex');
    if (expected && (expected.size !== size || expected.sha256 !== sha256)) {
      throw new IntegrityError(`source ${this.name}: artifact ${name} read back as ${size} bytes with SHA-256 ${sha256.slice(0, 12)}…, the snapshot says ${expected.size} bytes, ${expected.sha256.slice(0, 12)}…`, {
        hint: 'run "lifeboat check --read-data" to see the damage; back up again',
      });
    }
  }

  /**
   * A temp dir as $LIFEBOAT_RESTORE_TO when the commands use that variable; otherwise a
   * read-only target (see the file's doc): no command runs, the live store is never touched.
   */
  async scratchTarget(_reader: ArtifactReader, ctx: SourceContext): Promise<ScratchTarget> {
    if (ctx.signal.aborted) throw this.#cancelled('scratch target');
    const fingerprintKey = this.#config.fingerprint_command !== undefined ? 'fingerprint_command' : 'backup_command';
    const blind = (['restore_command', fingerprintKey] as const).filter((key) => !(this.#config[key] ?? '').includes(TARGET_VAR));
    if (blind.length > 0) {
      const token = `read-only:${randomUUID()}`;
      this.#readOnlyTargets.add(token);
      return {
        to: token,
        description: `none: the backup is read to its end and its SHA-256 checked`,
        readOnly: `${blind.join(' and ')} ${blind.length === 1 ? 'does' : 'do'} not use $${TARGET_VAR}, so no command ran; the backup was read whole and its SHA-256 checked, the data was not restored (make restore_command load into "$${TARGET_VAR}" and ${fingerprintKey} read from it for a full drill)`,
        cleanup: async () => void this.#readOnlyTargets.delete(token),
      };
    }
    await mkdir(this.#deps.tmpDir, { recursive: true });
    const dir = await mkdtemp(path.join(this.#deps.tmpDir, 'command-drill-'));
    return {
      to: dir,
      description: `directory ${dir} (as $${TARGET_VAR})`,
      cleanup: () => rm(dir, { recursive: true, force: true }),
    };
  }
}

export const commandType = {
  type: 'command',
  description: 'any store, through a backup_command that prints the backup and a restore_command that reads it on stdin',
  keys: commandKeys,
  create: (name, config, deps) => new CommandSource(name, config, deps),
} satisfies SourceType<CommandConfig>;
