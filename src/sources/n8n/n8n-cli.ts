/**
 * The part of n8n's server CLI the n8n source needs (n8n-docs hosting/cli-commands.md): export
 * and import of workflows and credentials. The CLI works on the database directly and runs
 * while n8n runs or not. Its stdout mixes log lines with the JSON, so exports go to a file
 * (--output) that the source streams on and removes. Secrets reach it only through env.
 */
import { describeCommand } from '../../core/command-runner.ts';
import type { CommandRunner } from '../../core/command-runner.ts';
import { CancelledError, SourceError } from '../../core/errors.ts';
import { collect, scrub, succeeded } from '../process-kit.ts';

export type N8nKind = 'workflows' | 'credentials';

const SUBJECT: Record<N8nKind, string> = { workflows: 'workflow', credentials: 'credentials' };

export interface N8nCliOptions {
  readonly runner: CommandRunner;
  readonly bin: string;
  readonly env: Readonly<Record<string, string>>;
  /** Values to scrub from any output before it reaches a message. */
  readonly secrets: readonly string[];
  /** For messages: "n8n source automations". */
  readonly what: string;
  readonly signal: AbortSignal;
}

export class N8nCli {
  readonly #o: N8nCliOptions;
  /** The commands run, for the manifest (no env, so no secrets). */
  readonly commands: string[] = [];

  constructor(o: N8nCliOptions) {
    this.#o = o;
  }

  async #run(args: string[], emptyOk?: RegExp): Promise<'done' | 'empty'> {
    const spec = { command: this.#o.bin, args, env: this.#o.env, signal: this.#o.signal };
    this.commands.push(describeCommand(spec));
    let r;
    try {
      r = await collect(this.#o.runner, spec);
    } catch (err) {
      if (this.#o.signal.aborted) throw new CancelledError(`${this.#o.what}: cancelled`, { cause: err });
      throw new SourceError(`${this.#o.what}: cannot run ${this.#o.bin}: ${(err as Error).message}`, { cause: err, hint: 'install n8n or set n8n_bin to its CLI' });
    }
    if (this.#o.signal.aborted) throw new CancelledError(`${this.#o.what}: cancelled`);
    if (succeeded(r)) return 'done';
    let out = `${r.stderr}\n${r.stdout}`;
    for (const s of this.#o.secrets) out = scrub(out, s);
    if (emptyOk?.test(out)) return 'empty';
    const last = out.trim().split('\n').filter(Boolean).slice(-1)[0] ?? `exit code ${r.code ?? r.signal}`;
    const missing = r.code === 127 || /ENOENT|not found/.test(last);
    throw new SourceError(`${this.#o.what}: ${describeCommand({ command: this.#o.bin, args: args.slice(0, 1) })} failed: ${last}`, {
      hint: missing ? 'install n8n or set n8n_bin to its CLI' : 'check env/secret_env (DB_TYPE, DB_POSTGRESDB_*) and user_folder: the CLI must reach n8n\'s database',
    });
  }

  /** Writes every workflow or credential (encrypted) to `file` as a JSON array; none is `[]`. */
  async exportTo(kind: N8nKind, file: string): Promise<'done' | 'empty'> {
    return this.#run([`export:${SUBJECT[kind]}`, '--all', `--output=${file}`], /No (workflows|credentials) found/i);
  }

  /** Imports a JSON array file; rows with the same ids are overwritten, workflows come back inactive. */
  async importFrom(kind: N8nKind, file: string): Promise<void> {
    await this.#run([`import:${SUBJECT[kind]}`, `--input=${file}`]);
  }
}
