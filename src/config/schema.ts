/**
 * The schema of lifeboat.yml, composed from the source types lifeboat knows.
 *
 * Top level: where backups go (`repository`), where local state lives (`state_dir`), how many
 * sources run at once (`concurrency`), values every source inherits (`defaults`), the sources
 * themselves (`sources`: name → one member of a union discriminated by `type`) and offsite
 * copies (`copies`). Every object is strict, so a misspelt key is an error, not a silent no-op.
 *
 * A source member is `{ type: literal, ...commonSourceKeys, ...the type's own keys }`. The types
 * map is a parameter (the registry by default) so that tests and docs can compose the schema
 * from any set of types.
 */
import { z } from 'zod';
import {
  commonSourceKeys,
  durationSchema,
  retentionSchema,
  secretRefSchema,
  timeoutsSchema,
} from '../sources/source-kit.ts';
import type { RegisteredSourceType } from '../sources/source-kit.ts';
import { sourceTypes } from '../sources/registry.ts';
import { daemonSchema, notificationSchema } from './daemon-schema.ts';
import type { DaemonConfig, NotificationConfig } from './daemon-schema.ts';
import { locationExamples } from '../storage/registry.ts';

/** The source types a schema is composed from, by their `type:` value. */
export type SourceTypes = ReadonlyMap<string, RegisteredSourceType>;

/** Source names become snapshot tags and file names: keep them plain. */
export const SOURCE_NAME = /^[a-z0-9][a-z0-9_-]*$/;

export const DEFAULT_CONCURRENCY = 2;

export const repositorySchema = z.strictObject({
  url: z.string().min(1).describe(`${locationExamples()}; a relative local path is relative to lifeboat.yml`),
  password: secretRefSchema,
}).describe('A repository and the reference to its password (never the password itself)');

export const defaultsSchema = z.strictObject({
  retention: retentionSchema.optional(),
  rpo: durationSchema.optional(),
  rto: durationSchema.optional(),
  schedule: z.string().min(1).optional(),
  timeouts: timeoutsSchema.optional(),
}).describe('Values every source inherits unless it sets its own');

export const copySchema = z.strictObject({
  repository: repositorySchema,
  schedule: z.string().min(1).optional(),
}).describe('A second repository the snapshots are copied to');

/** The keys every source has, parsed. */
type CommonSourceConfig = z.infer<ReturnType<typeof z.strictObject<typeof commonSourceKeys>>>;

/** One parsed source: `type`, the common keys, and the type's own keys. */
export type SourceConfig = CommonSourceConfig & { type: string } & { [key: string]: unknown };
export type RepositoryConfig = z.infer<typeof repositorySchema>;
export type DefaultsConfig = z.infer<typeof defaultsSchema>;
export type CopyConfig = z.infer<typeof copySchema>;

export interface LifeboatConfig {
  repository: RepositoryConfig;
  state_dir?: string;
  concurrency: number;
  defaults?: DefaultsConfig;
  sources: Record<string, SourceConfig>;
  copies?: CopyConfig[];
  daemon?: DaemonConfig;
  notifications?: NotificationConfig[];
}

/** The keys a source inherits from `defaults` when it does not set them. */
export const INHERITED_KEYS = ['retention', 'rpo', 'rto', 'schedule', 'timeouts'] as const;

function sourceSchema(types: SourceTypes): z.ZodType {
  const members = [...types.values()].map((t) => t.schema);
  if (members.length === 0) {
    // No adapter registered: every source is an error, with a message that says so.
    return z.never({ error: 'no source types are available in this build of lifeboat' });
  }
  // zod wants a non-empty tuple; the members are built from a map, hence the cast.
  return z.discriminatedUnion('type', members as unknown as [z.ZodObject, ...z.ZodObject[]]);
}

/** Composes the schema of lifeboat.yml from `types` (every registered source type by default). */
export function buildConfigSchema(types: SourceTypes = sourceTypes) {
  return z.strictObject({
    repository: repositorySchema,
    state_dir: z.string().min(1).optional().describe('Local state (caches, run history); default $XDG_STATE_HOME/lifeboat or ~/.local/state/lifeboat'),
    concurrency: z.int().min(1).max(64).default(DEFAULT_CONCURRENCY).describe('How many sources are backed up or restored at once'),
    defaults: defaultsSchema.optional(),
    sources: z.record(
      z.string().regex(SOURCE_NAME, { error: 'use lowercase letters, digits, "-" and "_", starting with a letter or digit' }),
      sourceSchema(types),
    ).default({}).describe('The data stores to back up, by name'),
    copies: z.array(copySchema).optional(),
    daemon: daemonSchema.optional(),
    notifications: z.array(notificationSchema).optional().describe('Where the daemon sends alerts'),
  }).describe('lifeboat.yml: the data stores of a stack and where their backups go');
}

export type ConfigSchema = ReturnType<typeof buildConfigSchema>;

// ---- Schema introspection, shared by the loader (error messages, paths) and describe ----

interface Def {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  in?: z.ZodType;
  element?: z.ZodType;
  valueType?: z.ZodType;
  options?: z.ZodType[];
  discriminator?: string;
  getter?: () => z.ZodType;
}

const defOf = (s: z.ZodType): Def => (s as unknown as { _zod: { def: Def } })._zod.def;

/** Strips wrappers that do not change what a value looks like (optional, default, …). */
export function unwrap(s: z.ZodType): z.ZodType {
  for (;;) {
    const d = defOf(s);
    if (d.innerType && ['optional', 'nullable', 'default', 'prefault', 'catch', 'readonly', 'nonoptional'].includes(d.type)) s = d.innerType;
    else if (d.type === 'pipe' && d.in) s = d.in;
    else if (d.type === 'lazy' && d.getter) s = d.getter();
    else return s;
  }
}

/**
 * The keys an object schema accepts, or undefined when `s` is not an object schema. For a
 * discriminated union, those of the member `value` belongs to.
 */
export function objectKeys(s: z.ZodType, value?: unknown): string[] | undefined {
  const d = defOf(unwrap(s));
  if (d.type === 'union' && d.discriminator) {
    const member = pickMember(d, value);
    return member ? objectKeys(member) : undefined;
  }
  return d.type === 'object' && d.shape ? Object.keys(d.shape) : undefined;
}

/**
 * A secret reference schema, recognised by shape (a union of three single-key objects `env`,
 * `file`, `command`) so that a copy made by `.describe()` or `.optional()` is recognised too.
 */
export function isSecretRefSchema(s: z.ZodType): boolean {
  const d = defOf(unwrap(s));
  if (d.type !== 'union' || !d.options) return false;
  const keys = d.options.map((o) => objectKeys(o)?.join(',')).sort();
  return keys.join('|') === 'command|env|file';
}

/** A value that has the shape of a secret reference. */
export function isSecretRefValue(v: unknown): v is { env: string } | { file: string } | { command: string } {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const keys = Object.keys(v);
  return keys.length === 1 && ['env', 'file', 'command'].includes(keys[0]) && typeof (v as Record<string, unknown>)[keys[0]] === 'string';
}

/** One step into a schema: the schema of `value[key]`, given `value` (to pick a union member). */
export function childSchema(s: z.ZodType, value: unknown, key: string | number): z.ZodType | undefined {
  const d = defOf(unwrap(s));
  switch (d.type) {
    case 'object': return d.shape?.[String(key)];
    case 'record': return d.valueType;
    case 'array': return d.element;
    case 'union': {
      const member = pickMember(d, value);
      return member ? childSchema(member, value, key) : undefined;
    }
    default: return undefined;
  }
}

/** The union member a value belongs to: by discriminator, else the only object member with that key. */
function pickMember(d: Def, value: unknown): z.ZodType | undefined {
  if (!d.options) return undefined;
  const obj = value !== null && typeof value === 'object' ? value as Record<string, unknown> : undefined;
  if (d.discriminator && obj) {
    return d.options.find((o) => {
      const lit = childSchema(o, obj, d.discriminator as string);
      const values = lit ? (defOf(lit) as unknown as { values?: unknown[] }).values : undefined;
      return values?.includes(obj[d.discriminator as string]) ?? false;
    });
  }
  return undefined;
}

/** The schema at `path` in `root`, walking the parsed or raw `data` alongside to pick union members. */
export function schemaAt(root: z.ZodType, data: unknown, path: ReadonlyArray<PropertyKey>): z.ZodType | undefined {
  let s: z.ZodType | undefined = root;
  let v: unknown = data;
  for (const seg of path) {
    if (!s) return undefined;
    const key = typeof seg === 'symbol' ? String(seg) : seg;
    s = childSchema(s, v, key);
    v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[key] : undefined;
  }
  return s;
}
