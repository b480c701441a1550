/**
 * How sources run tools (pg_dump, mariadb-dump, redis-cli…): locally today; in containers or
 * over ssh later (transport/). Secrets go in `env`, never in `args`.
 */
import type { Readable, Writable } from 'node:stream';

export interface RunSpec {
  readonly command: string;
  readonly args: readonly string[];
  /** Extra environment for the child (secrets such as PGPASSWORD go here). */
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
  readonly signal?: AbortSignal;
}

export interface RunningCommand {
  readonly stdout: Readable;
  readonly stdin: Writable;
  /** Resolves with the exit status; stderr (tail, secrets never echoed by us) for messages. */
  readonly done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
  kill(signal?: NodeJS.Signals): void;
}

/** A file put where a runner's commands can read it; `remove` deletes it (and its private dir). */
export interface StagedFile {
  readonly path: string;
  remove(): Promise<void>;
}

export interface CommandRunner {
  start(spec: RunSpec): RunningCommand;
  /**
   * Writes `data` to a new private file that this runner's commands can read (a restore
   * tool that needs a seekable file: `pg_restore -j`, `--use-list`). Runners whose commands
   * see the host's files leave it out: the source's tmpDir serves.
   */
  stageFile?(name: string, data: string | AsyncIterable<Uint8Array>, signal?: AbortSignal): Promise<StagedFile>;
}

/** The text form of a command for logs and manifests (no env, so no secrets). */
export function describeCommand(spec: Pick<RunSpec, 'command' | 'args'>): string {
  return [spec.command, ...spec.args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}
