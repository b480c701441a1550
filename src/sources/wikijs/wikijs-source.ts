/**
 * The `wikijs` source: Wiki.js's PostgreSQL database plus its git storage clone and config
 * file, backed up and restored together. It is built from the postgres and files sources, not
 * beside them (the registry hands their types in: source folders never import each other):
 * the database goes through a postgres source limited to that one database
 * (artifacts globals.sql and <name>.dump, restore by swapping in a fresh database), the
 * directory and file through a files source (a browsable tree, restore by staging and rename).
 *
 * The fingerprint is `{ database, files }`, each the inner source's. Restore runs the database
 * first, since it checks the restored data against the backup's fingerprint before it replaces
 * the live database, then the files; stop Wiki.js around it (restore.hooks), as it caches pages.
 *
 * `to`: a database name (the files go back in place), or for drills and copies a JSON object
 * `{"database": "<postgres to>", "files": "<dir>"}`. A drill creates both inner scratch targets.
 */
import { z } from 'zod';
import { SourceError, errorMessage, isLifeboatError } from '../../core/errors.ts';
import type {
  ArtifactReader, ArtifactSink, BackupOutcome, Fingerprint, RestoreOptions, ScratchTarget, Source, SourceContext, VerifyResult,
} from '../../core/source.ts';
import type { SourceDeps, SourceType, Timeouts } from '../source-kit.ts';
import { wikijsKeys, type WikijsConfig } from './wikijs-config.ts';

/** The source types a wikijs source is built from. */
export interface WikijsParts {
  readonly postgres: SourceType<never>;
  readonly files: SourceType<never>;
}

type AnyConfigType = SourceType<Record<string, unknown>>;

interface Targets {
  readonly database?: string;
  readonly files?: string;
}

/** Tables every Wiki.js 2 database has; their absence means the wrong database is configured. */
const WIKIJS_TABLES = ['public.pages', 'public.users'];

export class WikijsSource implements Source {
  readonly name: string;
  readonly type = 'wikijs';
  readonly #db: Source;
  readonly #dbName: string;
  readonly #files: Source | undefined;

  /** `config` as a factory gets it: parsed, common keys included (timeouts reach the database). */
  constructor(name: string, config: WikijsConfig & { timeouts?: Timeouts }, deps: SourceDeps, parts: WikijsParts) {
    this.name = name;
    this.#dbName = config.database.name;
    const { name: db, ...pg } = config.database;
    this.#db = (parts.postgres as AnyConfigType).create(name, { ...pg, databases: [db], jobs: 1, ...(config.timeouts ? { timeouts: config.timeouts } : {}) }, deps);
    const paths = [config.git_storage, config.config_file].filter((p): p is string => p !== undefined);
    this.#files = paths.length > 0 ? (parts.files as AnyConfigType).create(name, { paths }, deps) : undefined;
  }

  #targets(opts: RestoreOptions): Targets {
    const to = opts.to;
    if (to === undefined) return {};
    if (!to.trimStart().startsWith('{')) return { database: to };
    try {
      const t = JSON.parse(to) as Targets;
      return { database: t.database, files: t.files };
    } catch (err) {
      throw new SourceError(`wikijs source ${this.name}: restore target ${JSON.stringify(to)} is not valid JSON`, { cause: err, hint: 'a database name, or {"database": "copy", "files": "/restore/dir"}' });
    }
  }

  async backup(sink: ArtifactSink, ctx: SourceContext): Promise<BackupOutcome> {
    const db = await this.#db.backup(sink, ctx);
    const tables = (db.fingerprint as { databases?: Record<string, { tables?: Record<string, number> }> }).databases?.[this.#dbName]?.tables ?? {};
    const missing = WIKIJS_TABLES.filter((t) => tables[t] === undefined);
    if (missing.length > 0) ctx.log.warn(`wikijs source ${this.name}: database ${this.#dbName} has no ${missing.join(', ')}: is it Wiki.js's database (db.db in its config.yml)?`);
    const files = this.#files === undefined ? undefined : await this.#files.backup(sink, ctx);
    return {
      fingerprint: { database: db.fingerprint, ...(files ? { files: files.fingerprint } : {}) },
      serverVersion: db.serverVersion,
      commands: [...db.commands, ...(files?.commands ?? [])],
    };
  }

  async restore(reader: ArtifactReader, ctx: SourceContext, opts: RestoreOptions = {}): Promise<void> {
    const t = this.#targets(opts);
    const expected = opts.expected as { database?: Fingerprint } | undefined;
    await this.#db.restore(reader, ctx, { to: t.database, expected: expected?.database });
    if (this.#files === undefined) return;
    try {
      await this.#files.restore(reader, ctx, { to: t.files });
    } catch (err) {
      const msg = `wikijs source ${this.name}: the database was restored, the files were not: ${errorMessage(err)}`;
      throw new SourceError(msg, { cause: err, hint: isLifeboatError(err) && err.hint ? err.hint : 'fix the cause and run the restore again (it restores the database again too)', retryable: isLifeboatError(err) && err.retryable });
    }
  }

  async fingerprint(ctx: SourceContext, opts: RestoreOptions = {}): Promise<Fingerprint> {
    const t = this.#targets(opts);
    const database = await this.#db.fingerprint(ctx, { to: t.database });
    const files = this.#files === undefined ? undefined : await this.#files.fingerprint(ctx, { to: t.files });
    return { database, ...(files ? { files } : {}) };
  }

  async verify(reader: ArtifactReader, ctx: SourceContext): Promise<VerifyResult> {
    const db = (await this.#db.verify?.(reader, ctx)) ?? { checks: [], problems: [] };
    const files = (await this.#files?.verify?.(reader, ctx)) ?? { checks: [], problems: [] };
    return { checks: [...db.checks, ...files.checks], problems: [...db.problems, ...files.problems] };
  }

  async scratchTarget(reader: ArtifactReader, ctx: SourceContext): Promise<ScratchTarget> {
    if (this.#db.scratchTarget === undefined) throw new SourceError(`wikijs source ${this.name}: its database source has no drill target`);
    const db = await this.#db.scratchTarget(reader, ctx);
    let files: ScratchTarget | undefined;
    try {
      files = await this.#files?.scratchTarget?.(reader, ctx);
    } catch (err) {
      await db.cleanup();
      throw err;
    }
    return {
      to: JSON.stringify({ database: db.to, ...(files ? { files: files.to } : {}) }),
      description: [db.description, files?.description].filter(Boolean).join(' and '),
      cleanup: async () => {
        try {
          await db.cleanup();
        } finally {
          await files?.cleanup();
        }
      },
    };
  }
}

/** The `wikijs` type, built from the postgres and files types (registry.ts hands them in). */
export function wikijsType(parts: WikijsParts) {
  const connection = (parts.postgres.keys as { connection?: z.ZodType }).connection;
  if (connection === undefined) throw new Error('wikijs: the postgres source type has no connection key');
  const keys = wikijsKeys(connection);
  return {
    type: 'wikijs',
    description: 'Wiki.js: its PostgreSQL database (pg_dump) with the git storage clone and config.yml as files, restored together',
    keys,
    pathKeys: ['database.bin_dir'],
    create: (name, config, deps) => new WikijsSource(name, config, deps, parts),
  } satisfies SourceType<WikijsConfig & { timeouts?: Timeouts }>;
}
