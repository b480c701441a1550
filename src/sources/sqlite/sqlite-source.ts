/**
 * The `sqlite` source: one SQLite database file, backed up while the application keeps using it.
 *
 * Backup uses SQLite's online backup API (node:sqlite `backup()`), which copies the database
 * page by page under a read transaction, so the copy is one consistent moment even while other
 * connections write. The API can only write to a file, so this source has the one staging
 * exception of all sources: the copy lands in a private temp dir under deps.tmpDir, is checked
 * with `PRAGMA integrity_check`, fingerprinted, streamed into the sink as `<basename>`, and
 * deleted right after.
 *
 * Restore streams the artifact into a temp file beside the target (same filesystem), checks that
 * it opens and passes integrity_check, removes the target's stale `-wal`, `-shm` and `-journal`
 * files (an old WAL or hot journal would be replayed onto the new database and corrupt it), and
 * renames the temp file over the target. The application must be stopped during a restore
 * (the ops layer does that with hooks and dependency order).
 *
 * Fingerprint: integrity_check result, exact row count per table (sqlite_master tables except
 * SQLite's internal sqlite_*), and the sha256 of the schema (`sql` of sqlite_master, ordered).
 *
 * verify streams the artifact into a private temp dir under deps.tmpDir (a database can only be
 * opened as a file), opens it read-only, runs integrity_check and counts tables, and deletes the
 * copy. A drill's scratch target is a file path in a fresh temp dir under deps.tmpDir.
 *
 * With `container:`/`compose:` the database is in a container: the copy is made there by the
 * image's sqlite3 and streamed out, the restore renamed into place there (sqlite-container.ts);
 * the artifact, its checks and the fingerprint are the same as for a local file.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, open, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { DatabaseSync, backup as sqliteBackup } from 'node:sqlite';
import { CancelledError, NotFoundError, SourceError, errorMessage } from '../../core/errors.ts';
import type {
  ArtifactReader, ArtifactSink, BackupOutcome, Fingerprint, RestoreOptions, ScratchTarget, Source, SourceContext, VerifyResult,
} from '../../core/source.ts';
import type { SourceDeps, SourceType } from '../source-kit.ts';
import { sqliteKeys } from './sqlite-config.ts';
import { containerFileExists, containerTempDir, pullConsistentCopy, pushAndReplace } from './sqlite-container.ts';
import type { SqliteConfig } from './sqlite-config.ts';

/**
 * Pages per backup step. The online backup restarts from the first page whenever another
 * connection writes between two steps, so under a steady write load a copy in small steps may
 * never finish. One step copies everything under a single read transaction: in WAL mode writers
 * go on meanwhile; in rollback-journal mode their commits wait (busy timeout) for the copy.
 */
const ALL_PAGES_IN_ONE_STEP = 0x7fffffff;
/** How long our connections wait on a lock held by the application (ms). */
const BUSY_TIMEOUT_MS = 30_000;
/** Rows of a failed integrity_check quoted in an error message. */
const MAX_PROBLEMS_SHOWN = 5;

export interface SqliteFingerprint {
  /** 'ok', or the problems integrity_check reported, one per line. */
  readonly integrity: string;
  /** Rows per table; null for a virtual table whose module this SQLite lacks. */
  readonly tables: Readonly<Record<string, number | null>>;
  /** sha256 of the `sql` of every sqlite_master entry, ordered by type and name. */
  readonly schema: string;
}

const quoteIdent = (name: string): string => `"${name.replace(/"/g, '""')}"`;

/**
 * Fingerprints an open database inside one read transaction, so counts and schema describe
 * the same moment even while the application writes.
 */
export function fingerprintDatabase(db: DatabaseSync): SqliteFingerprint {
  db.exec('BEGIN');
  try {
    const integrity = db.prepare('PRAGMA integrity_check').all().map((r) => String(r.integrity_check)).join('\n');
    const schemaHash = createHash('sha256');
    for (const row of db.prepare('SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY type, name').all()) {
      schemaHash.update(`${String(row.sql)}\n`);
    }
    const names = db
      .prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name`)
      .all()
      .map((r) => String(r.name));
    const counts = names.map((name): [string, number | null] => {
      try {
        const row = db.prepare(`SELECT count(*) AS n FROM ${quoteIdent(name)}`).get();
        return [name, Number(row?.n)];
      } catch {
        // A virtual table (fts, rtree…) whose module is not compiled in cannot be counted
        // here; its shadow tables are ordinary tables and are counted.
        return [name, null];
      }
    });
    // fromEntries defines own properties, so even a table named "__proto__" is kept.
    return { integrity, tables: Object.fromEntries(counts), schema: schemaHash.digest('hex') };
  } finally {
    db.exec('COMMIT');
  }
}

function openDatabase(file: string, readOnly: boolean): DatabaseSync {
  return new DatabaseSync(file, { readOnly, timeout: BUSY_TIMEOUT_MS });
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return false;
      throw err;
    },
  );
}

/** The side files SQLite keeps next to a database. */
const sideFiles = (file: string): string[] => [`${file}-wal`, `${file}-shm`, `${file}-journal`];

export class SqliteSource implements Source {
  readonly name: string;
  readonly type = 'sqlite';
  readonly #config: SqliteConfig;
  readonly #deps: SourceDeps;

  constructor(name: string, config: SqliteConfig, deps: SourceDeps) {
    this.name = name;
    this.#config = config;
    this.#deps = deps;
  }

  /**
   * A runner with `stageFile` runs its commands in a container, which does not see this host's
   * files: the database is then reached through the image's sqlite3 (sqlite-container.ts).
   */
  get #inContainer(): boolean {
    return this.#deps.runner.stageFile !== undefined;
  }

  /** The database path: on this host, or as seen inside the container (absolute). */
  #resolve(p: string): string {
    return this.#inContainer ? path.posix.resolve('/', p) : path.resolve(p);
  }

  get #file(): string {
    return this.#resolve(this.#config.path);
  }

  #cancelled(what: string, cause?: unknown): CancelledError {
    return new CancelledError(`${what} of source ${this.name} cancelled`, cause === undefined ? {} : { cause });
  }

  async backup(sink: ArtifactSink, ctx: SourceContext): Promise<BackupOutcome> {
    if (ctx.signal.aborted) throw this.#cancelled('backup');
    const file = this.#file;
    if (!(await (this.#inContainer ? containerFileExists(this.#deps.runner, this.name, file, ctx.signal) : exists(file)))) {
      throw new SourceError(`source ${this.name}: SQLite database ${file} does not exist${this.#inContainer ? ' in the container' : ''}`, {
        hint: 'check `path` in lifeboat.yml; it must name the database file the application uses',
      });
    }
    await mkdir(this.#deps.tmpDir, { recursive: true });
    const work = await mkdtemp(path.join(this.#deps.tmpDir, 'sqlite-'));
    const copy = path.join(work, path.basename(file));
    try {
      if (this.#inContainer) await pullConsistentCopy(this.#deps.runner, this.name, file, copy, ctx.signal);
      else await this.#localCopy(file, copy);
      if (ctx.signal.aborted) throw this.#cancelled('backup');

      // The copy, not the live file, is fingerprinted: it is exactly what gets stored.
      const db = openDatabase(copy, true);
      let fingerprint: SqliteFingerprint;
      let version: string;
      try {
        fingerprint = fingerprintDatabase(db);
        version = String(db.prepare('SELECT sqlite_version() AS v').get()?.v);
      } finally {
        db.close();
      }
      if (fingerprint.integrity !== 'ok') {
        const problems = fingerprint.integrity.split('\n');
        throw new SourceError(`source ${this.name}: SQLite database ${file} is damaged: integrity_check reports ${problems.slice(0, MAX_PROBLEMS_SHOWN).join('; ')}`, {
          data: { problems: problems.length },
          hint: 'repair the database (sqlite3 .recover) or restore an earlier backup; this copy was not stored',
        });
      }
      await Promise.all(sideFiles(copy).map((f) => rm(f, { force: true })));
      await sink.put(path.basename(file), createReadStream(copy, { signal: ctx.signal }));
      return {
        fingerprint: { ...fingerprint },
        serverVersion: `SQLite ${version}`,
        commands: [`sqlite online backup ${file}`, 'PRAGMA integrity_check'],
      };
    } catch (err) {
      if (ctx.signal.aborted && !(err instanceof CancelledError)) throw this.#cancelled('backup', err);
      throw err;
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }

  /** The online backup of a database on this host into `copy`, all pages in one step. */
  async #localCopy(file: string, copy: string): Promise<void> {
    let src: DatabaseSync;
    try {
      src = openDatabase(file, true);
    } catch (err) {
      throw new SourceError(`source ${this.name}: cannot open SQLite database ${file}: ${errorMessage(err)}`, {
        cause: err,
        hint: 'check that the file is a SQLite database and readable by lifeboat',
      });
    }
    try {
      await sqliteBackup(src, copy, { rate: ALL_PAGES_IN_ONE_STEP });
    } catch (err) {
      throw new SourceError(`source ${this.name}: online backup of ${file} failed: ${errorMessage(err)}`, {
        cause: err,
        retryable: /busy|locked/i.test(errorMessage(err)),
        hint: 'if the database was locked, retry (a long write transaction of the application blocks the copy); otherwise check that the file is a SQLite database',
      });
    } finally {
      src.close();
    }
  }

  /** The artifact holding the database: named after the configured file, or the only one. */
  #artifactName(reader: ArtifactReader): string {
    const names = reader.list().map((a) => a.name);
    const wanted = path.basename(this.#file);
    if (names.includes(wanted)) return wanted;
    if (names.length === 1) return names[0];
    throw new NotFoundError(`source ${this.name}: the snapshot has no artifact ${wanted} (it has ${names.join(', ') || 'none'})`, {
      hint: 'pick a snapshot of this sqlite source',
    });
  }

  async restore(reader: ArtifactReader, ctx: SourceContext, opts?: RestoreOptions): Promise<void> {
    if (ctx.signal.aborted) throw this.#cancelled('restore');
    const name = this.#artifactName(reader);
    if (this.#inContainer) return this.#restoreInContainer(reader, name, this.#resolve(opts?.to ?? this.#config.path), ctx);
    const target = path.resolve(opts?.to ?? this.#config.path);
    const dir = path.dirname(target);
    await mkdir(dir, { recursive: true });
    // Beside the target, so the final rename is atomic on the same filesystem.
    const temp = path.join(dir, `.${path.basename(target)}.lifeboat-${randomBytes(6).toString('hex')}`);
    try {
      // flush: fsync before close, so the rename below never publishes unwritten pages.
      await pipeline(reader.open(name), createWriteStream(temp, { flags: 'wx', mode: 0o600, flush: true }), { signal: ctx.signal });
      this.#verifyRestoredCopy(temp, name);
      await Promise.all(sideFiles(temp).map((f) => rm(f, { force: true })));

      const old = await stat(target).catch(() => undefined);
      if (old) {
        await chmod(temp, old.mode & 0o7777);
        if (process.getuid?.() === 0) await chown(temp, old.uid, old.gid);
      } else {
        await chmod(temp, 0o644);
      }
      await Promise.all(sideFiles(target).map((f) => rm(f, { force: true })));
      await rename(temp, target);
      await syncDir(dir);
      ctx.log.info(`source ${this.name}: restored ${name} to ${target}`);
    } catch (err) {
      await Promise.all([temp, ...sideFiles(temp)].map((f) => rm(f, { force: true })));
      if (ctx.signal.aborted && !(err instanceof CancelledError)) throw this.#cancelled('restore', err);
      throw err;
    }
  }

  /** The artifact checked here in a private temp dir, then moved into place in the container. */
  async #restoreInContainer(reader: ArtifactReader, name: string, target: string, ctx: SourceContext): Promise<void> {
    await mkdir(this.#deps.tmpDir, { recursive: true });
    const work = await mkdtemp(path.join(this.#deps.tmpDir, 'sqlite-restore-'));
    try {
      const copy = path.join(work, 'copy.db');
      await pipeline(reader.open(name), createWriteStream(copy, { flags: 'wx', mode: 0o600 }), { signal: ctx.signal });
      this.#verifyRestoredCopy(copy, name);
      await pushAndReplace(this.#deps.runner, this.name, copy, target, ctx.signal);
      ctx.log.info(`source ${this.name}: restored ${name} to ${target} in the container`);
    } catch (err) {
      if (ctx.signal.aborted && !(err instanceof CancelledError)) throw this.#cancelled('restore', err);
      throw err;
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }

  /** A consistent copy of the container's database, fingerprinted here like a local one. */
  async #fingerprintInContainer(file: string, ctx: SourceContext): Promise<Fingerprint> {
    if (!(await containerFileExists(this.#deps.runner, this.name, file, ctx.signal))) return { missing: true };
    await mkdir(this.#deps.tmpDir, { recursive: true });
    const work = await mkdtemp(path.join(this.#deps.tmpDir, 'sqlite-fp-'));
    try {
      const copy = path.join(work, 'copy.db');
      await pullConsistentCopy(this.#deps.runner, this.name, file, copy, ctx.signal);
      const db = openDatabase(copy, true);
      try {
        return { ...fingerprintDatabase(db) };
      } finally {
        db.close();
      }
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }

  /** A restored file must open and pass integrity_check before it replaces anything. */
  #verifyRestoredCopy(file: string, artifact: string): void {
    let integrity: string;
    try {
      const db = openDatabase(file, true);
      try {
        integrity = fingerprintDatabase(db).integrity;
      } finally {
        db.close();
      }
    } catch (err) {
      throw new SourceError(`source ${this.name}: artifact ${artifact} is not a readable SQLite database: ${errorMessage(err)}`, {
        cause: err,
        hint: 'the target was left untouched; check the repository or pick another snapshot',
      });
    }
    if (integrity !== 'ok') {
      throw new SourceError(`source ${this.name}: artifact ${artifact} fails integrity_check: ${integrity.split('\n').slice(0, MAX_PROBLEMS_SHOWN).join('; ')}`, {
        hint: 'the target was left untouched; pick another snapshot',
      });
    }
  }

  async fingerprint(ctx: SourceContext, opts?: RestoreOptions): Promise<Fingerprint> {
    if (ctx.signal.aborted) throw this.#cancelled('fingerprint');
    if (this.#inContainer) return this.#fingerprintInContainer(this.#resolve(opts?.to ?? this.#config.path), ctx);
    const file = path.resolve(opts?.to ?? this.#config.path);
    // No database is a state too (after a wipe, before a restore): it compares as different.
    if (!(await exists(file))) return { missing: true };
    try {
      const db = openDatabase(file, true);
      try {
        return { ...fingerprintDatabase(db) };
      } finally {
        db.close();
      }
    } catch (err) {
      throw new SourceError(`source ${this.name}: cannot fingerprint SQLite database ${file}: ${errorMessage(err)}`, {
        cause: err,
        hint: 'check that the file is a SQLite database and readable by lifeboat',
      });
    }
  }

  async verify(reader: ArtifactReader, ctx: SourceContext): Promise<VerifyResult> {
    if (ctx.signal.aborted) throw this.#cancelled('verify');
    let name: string;
    try {
      name = this.#artifactName(reader);
    } catch (err) {
      return { checks: [], problems: [errorMessage(err)] };
    }
    await mkdir(this.#deps.tmpDir, { recursive: true });
    const work = await mkdtemp(path.join(this.#deps.tmpDir, 'sqlite-verify-'));
    try {
      const copy = path.join(work, 'copy.db');
      try {
        await pipeline(reader.open(name), createWriteStream(copy, { flags: 'wx', mode: 0o600 }), { signal: ctx.signal });
      } catch (err) {
        if (ctx.signal.aborted) throw this.#cancelled('verify', err);
        return { checks: [], problems: [`${name}: cannot be read: ${errorMessage(err)}`] };
      }
      let fp: SqliteFingerprint;
      let pages: number;
      try {
        const db = openDatabase(copy, true);
        try {
          fp = fingerprintDatabase(db);
          pages = Number(db.prepare('PRAGMA page_count').get()?.page_count);
        } finally {
          db.close();
        }
      } catch (err) {
        return { checks: [], problems: [`${name}: not a readable SQLite database: ${errorMessage(err)}`] };
      }
      if (fp.integrity !== 'ok') {
        const problems = fp.integrity.split('\n');
        return { checks: [], problems: [`${name}: integrity_check reports ${problems.slice(0, MAX_PROBLEMS_SHOWN).join('; ')}${problems.length > MAX_PROBLEMS_SHOWN ? ` (${problems.length} problems)` : ''}`] };
      }
      const tables = Object.keys(fp.tables).length;
      const rows = Object.values(fp.tables).reduce<number>((sum, n) => sum + (n ?? 0), 0);
      return { checks: [`${name}: integrity_check ok, ${pages} pages, ${tables} tables, ${rows} rows`], problems: [] };
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }

  /** A database path in a fresh temp dir (in the container for one there): restore writes it, fingerprint reads it. */
  async scratchTarget(_reader: ArtifactReader, ctx: SourceContext): Promise<ScratchTarget> {
    if (ctx.signal.aborted) throw this.#cancelled('scratch target');
    if (this.#inContainer) {
      // Beside the production store, in the same container, never over it.
      const tmp = await containerTempDir(this.#deps.runner, this.name, ctx.signal);
      const to = `${tmp.dir}/${path.posix.basename(this.#file)}`;
      return { to, description: `file ${to} in the container`, cleanup: tmp.remove };
    }
    await mkdir(this.#deps.tmpDir, { recursive: true });
    const dir = await mkdtemp(path.join(this.#deps.tmpDir, 'sqlite-drill-'));
    const to = path.join(dir, path.basename(this.#file));
    return {
      to,
      description: `file ${to}`,
      cleanup: () => rm(dir, { recursive: true, force: true }),
    };
  }
}

/** Makes a rename durable; some filesystems refuse fsync on a directory, which is harmless. */
async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r').catch(() => undefined);
  if (!fh) return;
  try {
    await fh.sync().catch(() => undefined);
  } finally {
    await fh.close();
  }
}

export const sqliteType = {
  type: 'sqlite',
  description: 'a SQLite database file, copied consistently with the online backup API while the application runs',
  keys: sqliteKeys,
  pathKeys: ['path', 'restore.to'],
  create: (name, config, deps) => new SqliteSource(name, config, deps),
} satisfies SourceType<SqliteConfig>;
