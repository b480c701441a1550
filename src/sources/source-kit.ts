/**
 * What every source adapter shares: how a secret is referenced in lifeboat.yml, the services
 * a source gets from the composition root, and the common keys of every source's config.
 * Each adapter folder (sources/<type>/) has <type>-config.ts (a zod schema of its own keys)
 * and <type>-source.ts (a factory), registered in sources/registry.ts.
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { CommandRunner } from '../core/command-runner.ts';
import type { Source } from '../core/source.ts';

/**
 * A secret is never written inline in lifeboat.yml: it names where to read it from.
 * `{ env: NAME }`, `{ file: PATH }` or `{ command: "pass show db" }`.
 */
export const secretRefSchema = z.union([
  z.strictObject({ env: z.string().min(1) }),
  z.strictObject({ file: z.string().min(1) }),
  z.strictObject({ command: z.string().min(1) }),
], { error: 'a secret must be { env: NAME }, { file: PATH } or { command: CMD }, never the secret itself' });
export type SecretRef = z.infer<typeof secretRefSchema>;

/** Resolves a secret reference to its value (config/secrets.ts implements it). */
export type SecretResolver = (ref: SecretRef, what: string) => Promise<string>;

export interface SourceDeps {
  readonly runner: CommandRunner;
  readonly secrets: SecretResolver;
  /** Directory for the source's temporary files (never a whole dump). */
  readonly tmpDir: string;
}

const RUN_DIR = /^run-(\d+)-[0-9a-f]+$/;

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** This process's run dir per root, so a daemon that opens its stack again reuses it. */
const runDirs = new Map<string, Promise<string>>();

/**
 * The temp dir of this process under `root` (the state dir's tmp/): `run-<pid>-<random>`, 0700,
 * removed when the process exits. What earlier runs left there when they were killed (staged
 * dumps, scratch servers' files, and from older versions option files with passwords) is
 * removed first: every entry except the run dirs of processes that are still alive, so a
 * daemon and a CLI run can share the state dir.
 */
export function openRunTmpDir(root: string): Promise<string> {
  let dir = runDirs.get(root);
  if (dir === undefined) {
    dir = createRunTmpDir(root);
    runDirs.set(root, dir);
    dir.catch(() => runDirs.delete(root));
  }
  return dir;
}

async function createRunTmpDir(root: string): Promise<string> {
  await mkdir(root, { recursive: true, mode: 0o700 });
  for (const name of await readdir(root)) {
    const m = RUN_DIR.exec(name);
    if (m && (Number(m[1]) === process.pid || isAlive(Number(m[1])))) continue;
    await rm(path.join(root, name), { recursive: true, force: true });
  }
  const dir = path.join(root, `run-${process.pid}-${randomBytes(4).toString('hex')}`);
  await mkdir(dir, { mode: 0o700 });
  // Sources remove their own files as they finish; this takes the dir itself (and what a
  // failed cleanup left). A SIGKILL skips it: the next start removes the dir then.
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A small artifact (a manifest, an index, a meta file) read whole: for JSON and text, not for dumps. */
export async function readAll(chunks: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of chunks) parts.push(Buffer.from(c.buffer, c.byteOffset, c.byteLength));
  return Buffer.concat(parts);
}

/** "30s", "15m", "1h", "7d", "2w" → milliseconds. */
export const durationSchema = z.string().regex(/^\d+(\.\d+)?(ms|s|m|h|d|w)$/, { error: 'a duration like 30s, 15m, 1h, 7d or 2w' });

export function parseDurationMs(s: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/.exec(s);
  if (!m) throw new RangeError(`not a duration: ${s}`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[m[2] as 'ms'];
  return Number(m[1]) * unit;
}

export const retentionSchema = z.strictObject({
  keep_last: z.int().nonnegative().optional(),
  keep_hourly: z.int().nonnegative().optional(),
  keep_daily: z.int().nonnegative().optional(),
  keep_weekly: z.int().nonnegative().optional(),
  keep_monthly: z.int().nonnegative().optional(),
  keep_yearly: z.int().nonnegative().optional(),
  keep_within: z.string().optional(),
});
export type Retention = z.infer<typeof retentionSchema>;

/**
 * How long a source waits for its server: `connect` for a connection (and its handshake), `idle`
 * for any output while a dump or query runs. A server that accepts a connection and then
 * never answers would otherwise hold the backup, and the repository lock, forever.
 */
export const timeoutsSchema = z.strictObject({
  connect: durationSchema.optional().describe('default 30s'),
  idle: durationSchema.optional().describe('default 5m; command sources: no limit unless set'),
}).describe('Connect and idle timeouts of the source\'s server');
export type Timeouts = z.infer<typeof timeoutsSchema>;

export const DEFAULT_CONNECT_TIMEOUT_MS = 30_000;
export const DEFAULT_IDLE_TIMEOUT_MS = 5 * 60_000;

export interface SourceTimeouts {
  readonly connectMs: number;
  readonly idleMs: number;
  /** Whether `idle` was set (command sources watch their output only then). */
  readonly idleSet: boolean;
}

/**
 * The timeouts of a source's config (common keys included, as a factory gets it; the
 * adapter's own schema does not know the key), in milliseconds with defaults filled in.
 */
export function sourceTimeouts(config: unknown): SourceTimeouts {
  const t = (config as { timeouts?: Timeouts } | undefined)?.timeouts;
  return {
    connectMs: t?.connect !== undefined ? parseDurationMs(t.connect) : DEFAULT_CONNECT_TIMEOUT_MS,
    idleMs: t?.idle !== undefined ? parseDurationMs(t.idle) : DEFAULT_IDLE_TIMEOUT_MS,
    idleSet: t?.idle !== undefined,
  };
}

const hookList = z.array(z.string().min(1));
export const hooksSchema = z.strictObject({ before: hookList.optional(), after: hookList.optional() });

/**
 * Where a source's store lives when not on this machine: its tools run there (transport/).
 * At most one of `container`, `compose` and `ssh` per source.
 */
export const composeServiceSchema = z.strictObject({
  project: z.string().min(1),
  service: z.string().min(1),
}).describe('A Compose service: its container is found by the com.docker.compose.* (or io.podman.compose.*) labels');

/** A host reached over ssh (the system OpenSSH client, its host key checked against known_hosts). */
export const sshHostSchema = z.strictObject({
  host: z.string().min(1),
  user: z.string().min(1).optional(),
  port: z.number().int().min(1).max(65535).optional(),
  identity_file: z.string().min(1).optional(),
  known_hosts: z.string().min(1).optional(),
}).describe('A host reached over ssh: the source\'s tools run there (key or agent auth, the host key checked against known_hosts)');

/** Keys every source has, whatever its type. */
export const commonSourceKeys = {
  container: z.string().min(1).optional().describe('Docker or Podman container (name or id) the store runs in: its tools run there'),
  compose: composeServiceSchema.optional(),
  ssh: sshHostSchema.optional(),
  stop: z.array(z.union([z.string().min(1), composeServiceSchema]))
    .optional()
    .describe('Containers (by name) or compose services stopped during the backup and the restore, started again afterwards, also on failure'),
  depends_on: z.array(z.string()).optional(),
  schedule: z.string().optional(),
  retention: retentionSchema.optional(),
  rpo: durationSchema.optional(),
  rto: durationSchema.optional(),
  tags: z.array(z.string()).optional(),
  timeouts: timeoutsSchema.optional(),
  backup: z.strictObject({ hooks: hooksSchema.optional() }).optional(),
  restore: z.strictObject({ hooks: hooksSchema.optional(), to: z.string().optional() }).optional(),
};

/**
 * One kind of source: its config schema (the type-specific keys; the composed schema adds
 * `type` and the common keys) and a factory. `config` is the parsed config of one source,
 * common keys included. `create` is a property, not a method, so that the compiler checks
 * what the schema parses against what the factory takes (registerSourceType).
 */
export interface SourceType<C = Record<string, unknown>> {
  readonly type: string;
  /** One line for docs and `lifeboat config check`. */
  readonly description: string;
  readonly keys: z.ZodRawShape;
  /**
   * The keys that hold file system paths (a string or a list), as dotted paths inside the
   * source (`restore.to`); the loader makes them absolute, relative to lifeboat.yml. A key
   * written `program:KEY` names a program: resolved only when it contains a "/", so a bare
   * name is still looked up in PATH, as a shell would.
   */
  readonly pathKeys?: readonly string[];
  readonly create: (name: string, config: C, deps: SourceDeps) => Source;
}

/** The keys of one source of a type in `sources:`: `type`, the common keys, the type's own. */
function memberShape<S extends z.ZodRawShape>(type: string, keys: S) {
  return { type: z.literal(type), ...commonSourceKeys, ...keys };
}

/** What lifeboat.yml's schema makes of one source of a type whose own keys are S. */
export type SourceConfigOf<S extends z.ZodRawShape> = z.output<z.ZodObject<ReturnType<typeof memberShape<S>>, z.core.$strict>>;

/**
 * A source type as the registry and the config loader see it, its config type hidden:
 * `schema` is its member of `sources:` in lifeboat.yml's schema, and a source parsed by it is
 * created by `createSource`, with the config exactly as parsed.
 */
export interface RegisteredSourceType {
  readonly type: string;
  readonly description: string;
  readonly keys: z.ZodRawShape;
  readonly pathKeys?: readonly string[];
  readonly schema: z.ZodObject;
}

/** The factory of each source config parsed by a registered type's schema, bound to it. */
const factories = new WeakMap<object, (name: string, deps: SourceDeps) => Source>();

/**
 * Registers a type: the compiler checks here that what `keys` parse to (with `type` and the
 * common keys) is what `create` takes, and parsing binds each parsed config to `create`, so
 * that no caller casts a config or parses it a second time.
 */
export function registerSourceType<S extends z.ZodRawShape>(t: {
  readonly type: string;
  readonly description: string;
  readonly keys: S;
  readonly pathKeys?: readonly string[];
  readonly create: (name: string, config: SourceConfigOf<S>, deps: SourceDeps) => Source;
}): RegisteredSourceType {
  const schema = z.strictObject(memberShape(t.type, t.keys)).check((ctx) => {
    const config = ctx.value;
    factories.set(config, (name, deps) => t.create(name, config, deps));
  }).describe(t.description);
  return { type: t.type, description: t.description, keys: t.keys, pathKeys: t.pathKeys, schema };
}

/**
 * The source of `config`, a source config as lifeboat.yml's schema parsed it (its object, with
 * the defaults the loader merged in); anything else is a programming error.
 */
export function createSource(name: string, config: object, deps: SourceDeps): Source {
  const create = factories.get(config);
  if (!create) throw new Error(`source ${name}: its config was not parsed by a registered source type's schema`);
  return create(name, deps);
}
