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

/**
 * The container a runner's commands run in (the container transport), for what an exec
 * cannot do: change the store's files while the store is stopped.
 */
export interface RunnerContainer {
  /** "container NAME" or "compose service S of project P", for messages. */
  readonly description: string;
  /** Stops the container (SIGTERM, then SIGKILL after a grace period); the handle works on it stopped. */
  stop(): Promise<StoppedContainer>;
  /**
   * Where this host sees the running container's filesystem, its mounts included: its main
   * process's `/proc/PID/root` and that mount namespace's mountinfo. Undefined when this
   * process cannot read it (not root, or the engine runs on another host).
   */
  hostView(): Promise<{ readonly root: string; readonly mountinfo: string } | undefined>;
}

export interface StoppedContainer {
  /** Extracts a tar into directory `dir` of the (stopped) container; entries keep their uid, gid and mode. */
  putArchive(dir: string, tar: Uint8Array): Promise<void>;
  /** Starts it again; resolves once it runs. */
  start(): Promise<void>;
}

export interface CommandRunner {
  start(spec: RunSpec): RunningCommand;
  /** Set by the container transport only. */
  readonly container?: RunnerContainer;
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
