/**
 * The `postgres` source: every configured database of one PostgreSQL server as a pg_dump
 * custom-format archive, plus the cluster's roles and tablespaces.
 *
 * Artifacts: `globals.sql` (pg_dumpall --globals-only) and `<database>.dump` (pg_dump
 * --format=custom --compress=0: uncompressed so that the repository's chunking deduplicates
 * unchanged table data between runs; the repository compresses). A database name that is not a
 * plain file name is percent-encoded in the artifact name.
 *
 * Consistency: per database, a psql session opens a REPEATABLE READ transaction and exports
 * its snapshot; the fingerprint query and pg_dump (--snapshot) both import it, so the row
 * counts describe exactly the dumped data even while the application writes. Databases are
 * dumped one after the other, each from its own snapshot (as pg_dump always does).
 *
 * Restore: globals first (filtered, see postgres-globals.ts), then each database is replaced
 * whole (postgres-replace.ts): the archive goes into a fresh database created as the snapshot's
 * was (encoding, locale, owner, settings, grants), its fingerprint is compared with the
 * backup's when the caller passes it, then the fresh database takes the live one's name and the
 * live one is dropped. So the result is exactly the snapshot: tables created after it are gone.
 * Owners are kept when lifeboat connects as a superuser (globals recreated the roles);
 * otherwise --no-owner makes the connected role own everything. With jobs > 1 the archive is
 * first copied to a 0600 staging file under the source's temp dir, because pg_restore --jobs
 * needs a seekable file; with jobs: 1 it streams from the repository into pg_restore's stdin.
 *
 * `to`: "newname" (the backup must hold one database) or "app=app_copy,shop=shop_copy" (only
 * the named databases are restored). fingerprint({to}) reports the targets under the original
 * names, so it compares with the backup's fingerprint.
 *
 * verify reads every archive with pg_restore alone (no server: postgres-verify.ts). A drill's
 * scratch target is one new database per archive, `lifeboat_drill_<UTC time>_<db>`, created
 * here (so a name that already exists fails the drill instead of being restored over) and
 * dropped by its cleanup; `to` maps every archive onto its drill database.
 */
import { restoreTargets } from '../database-targets.ts';
import type { RestoreTarget } from '../database-targets.ts';
import { describeCommand } from '../../core/command-runner.ts';
import type { RunningCommand, StagedFile } from '../../core/command-runner.ts';
import { CancelledError, SourceError, errorMessage, isLifeboatError } from '../../core/errors.ts';
import { compareFingerprints } from '../../core/source.ts';
import type {
  ArtifactReader, ArtifactSink, BackupOutcome, Fingerprint, RestoreOptions, ScratchTarget, Source, SourceContext, VerifyResult,
} from '../../core/source.ts';
import { sourceTimeouts } from '../source-kit.ts';
import type { SourceDeps, SourceTimeouts, SourceType } from '../source-kit.ts';
import { PgClient, dbArg, dumpVersionProblem, serverMajor } from './postgres-client.ts';
import { SWAP_SQL, createDatabaseLike, dropSql } from './postgres-replace.ts';
import { postgresKeys } from './postgres-config.ts';
import type { PostgresConfig } from './postgres-config.ts';
import { fingerprintSql, tablePattern, toDatabaseFingerprint } from './postgres-fingerprint.ts';
import type { DatabaseFingerprint } from './postgres-fingerprint.ts';
import { filterGlobals } from './postgres-globals.ts';
import { collect, guardedOutput, stageFile, succeeded, watchIdle } from '../process-kit.ts';
import { drillDatabaseName, drillTimestamp, mappingProblem, verifyArchive, verifyGlobals, workDatabaseName } from './postgres-verify.ts';
import { nowDate } from '../../util/clock.ts';

export const GLOBALS_ARTIFACT = 'globals.sql';
const DUMP_SUFFIX = '.dump';

/** Artifact name of a database's archive: the name itself when it is a plain file name. */
export function dumpArtifactName(db: string): string {
  return `${encodeURIComponent(db)}${DUMP_SUFFIX}`;
}

/** The database of an archive artifact, or undefined for other artifacts. */
export function databaseOfArtifact(name: string): string | undefined {
  if (!name.endsWith(DUMP_SUFFIX) || name.includes('/')) return undefined;
  try {
    return decodeURIComponent(name.slice(0, -DUMP_SUFFIX.length));
  } catch {
    return undefined;
  }
}


interface ServerInfo {
  num: number;
  version: string;
  databases: string[] | null;
  authid: boolean;
  super: boolean;
  user: string;
  roles: string[] | null;
  tablespaces: string[] | null;
}

const INFO_SQL = `SELECT json_build_object(
  'num', current_setting('server_version_num')::int,
  'version', current_setting('server_version'),
  'databases', (SELECT json_agg(datname) FROM pg_database WHERE NOT datistemplate AND datallowconn),
  'authid', has_table_privilege('pg_catalog.pg_authid', 'SELECT'),
  'super', coalesce((SELECT rolsuper FROM pg_roles WHERE rolname = current_user), false),
  'user', quote_ident(current_user),
  'roles', (SELECT json_agg(quote_ident(rolname)) FROM pg_roles),
  'tablespaces', (SELECT json_agg(quote_ident(spcname)) FROM pg_tablespace)
);`;

/** Does the maintenance database hold anything of the user's? (It is skipped when empty.) */
const HAS_USER_OBJECTS_SQL = `SELECT json_build_object('n', (
  SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
    AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp_)'
    AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')));`;

const MAINTENANCE_DB = 'postgres';

/** Databases a killed restore leaves: its fresh copy, or the replaced one it had not dropped yet. */
const LEFTOVERS_SQL = `SELECT json_agg(datname ORDER BY datname) FROM pg_database WHERE datname ~* '^lifeboat_(restore|old)_[0-9]{8}T[0-9]{6}_';`;

/** Reads the first line the command prints, or undefined when it ends first. */
function firstLine(cmd: RunningCommand): Promise<string | undefined> {
  return new Promise((resolve) => {
    let text = '';
    const onData = (c: Buffer) => {
      text += c.toString('utf8');
      const nl = text.indexOf('\n');
      if (nl >= 0) {
        cmd.stdout.off('data', onData);
        cmd.stdout.resume();
        resolve(text.slice(0, nl).trim());
      }
    };
    cmd.stdout.on('data', onData);
    void cmd.done.then(() => resolve(undefined));
  });
}

export class PostgresSource implements Source {
  readonly name: string;
  readonly type = 'postgres';
  readonly #config: PostgresConfig;
  readonly #deps: SourceDeps;
  readonly #timeouts: SourceTimeouts;

  /** `config` as lifeboat.yml's schema parsed it (defaults applied), common keys included. */
  constructor(name: string, config: PostgresConfig, deps: SourceDeps) {
    this.name = name;
    this.#config = config;
    this.#deps = deps;
    this.#timeouts = sourceTimeouts(config);
  }

  async #client(): Promise<PgClient> {
    const c = this.#config.connection;
    const password = c.password === undefined ? undefined : await this.#deps.secrets(c.password, `password of postgres source "${this.name}"`);
    return new PgClient(this.#deps.runner, this.name, { host: c.host, port: c.port, user: c.user, password, sslmode: c.sslmode, connectTimeoutMs: this.#timeouts.connectMs }, this.#config.bin_dir);
  }

  async #info(client: PgClient, ctx: SourceContext, db: string): Promise<ServerInfo> {
    return client.json<ServerInfo>(db, INFO_SQL, 'reading the server version and roles', { signal: ctx.signal });
  }

  /**
   * Picks the directory whose pg_dump can dump this server: bin_dir if set, else PATH, else
   * /usr/lib/postgresql/<server major>/bin. All four tools come from that one directory.
   */
  async #chooseTools(client: PgClient, info: ServerInfo): Promise<string> {
    const major = serverMajor(info.num);
    const candidates = this.#config.bin_dir !== undefined ? [this.#config.bin_dir] : [undefined, `/usr/lib/postgresql/${major}/bin`];
    const problems: string[] = [];
    for (const dir of candidates) {
      const version = await client.version('pg_dump', dir);
      if (version === undefined) {
        problems.push(`no pg_dump in ${dir ?? 'PATH'}`);
        continue;
      }
      const problem = dumpVersionProblem(version, info.num);
      if (problem === undefined) {
        client.useToolDir(dir);
        return version;
      }
      problems.push(`${dir ?? 'PATH'}: ${problem}`);
    }
    throw new SourceError(`${client.label}: no usable pg_dump for PostgreSQL ${info.version}: ${problems.join('; ')}`, {
      hint: `install postgresql-client-${major} or set bin_dir to the directory holding pg_dump ${major} or newer`,
      data: { serverVersion: info.version },
    });
  }

  /** The databases this source covers (see postgresKeys.databases for the `all` rule). */
  async #databases(client: PgClient, info: ServerInfo, ctx: SourceContext): Promise<string[]> {
    if (this.#config.databases !== 'all') return [...this.#config.databases];
    const all = [...(info.databases ?? [])].sort();
    const out: string[] = [];
    for (const db of all) {
      if (db === MAINTENANCE_DB) {
        const r = await client.json<{ n: number }>(db, HAS_USER_OBJECTS_SQL, 'looking for user tables', { signal: ctx.signal });
        if (r.n === 0) continue;
      }
      out.push(db);
    }
    return out;
  }

  /** The database lifeboat connects to for server-wide queries. */
  #maintenanceDb(): string {
    return this.#config.databases === 'all' ? MAINTENANCE_DB : this.#config.databases[0];
  }

  #excludeVar(): string {
    return JSON.stringify((this.#config.exclude_tables ?? []).map(tablePattern));
  }

  async #fingerprintDb(client: PgClient, db: string, ctx: SourceContext, snapshot?: string): Promise<DatabaseFingerprint> {
    const vars: Record<string, string> = { excl: this.#excludeVar() };
    if (snapshot !== undefined) vars.snapshot = snapshot;
    const raw = await client.json<{ counts: Record<string, number> | null; schema: string[] | null }>(db, fingerprintSql(snapshot !== undefined), `fingerprinting database "${db}"`, {
      vars,
      signal: ctx.signal,
    });
    return toDatabaseFingerprint(raw);
  }

  async #guard<T>(ctx: SourceContext, what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (ctx.signal.aborted) throw new CancelledError(`${what} of postgres source "${this.name}" cancelled`, { cause: err });
      throw err;
    }
  }

  backup(sink: ArtifactSink, ctx: SourceContext): Promise<BackupOutcome> {
    return this.#guard(ctx, 'backup', async () => {
      const client = await this.#client();
      const info = await this.#info(client, ctx, this.#maintenanceDb());
      const dumpVersion = await this.#chooseTools(client, info);
      ctx.log.info(`${client.label}: PostgreSQL ${info.version}, ${dumpVersion}`);
      const commands: string[] = [];

      const globalsArgs = ['--globals-only'];
      if (!info.authid) {
        globalsArgs.push('--no-role-passwords');
        ctx.log.warn(`${client.label}: this role cannot read role passwords (pg_authid); roles are saved without passwords and need new ones after a restore`);
      }
      await this.#dumpTo(client, sink, GLOBALS_ARTIFACT, 'pg_dumpall', globalsArgs, ctx, commands, 'pg_dumpall --globals-only');

      const databases = await this.#databases(client, info, ctx);
      const fingerprints: Record<string, DatabaseFingerprint> = {};
      for (const db of databases) fingerprints[db] = await this.#backupDatabase(client, db, sink, ctx, commands);
      return { fingerprint: { databases: fingerprints }, serverVersion: `PostgreSQL ${info.version}`, commands };
    });
  }

  /** Streams a tool's stdout into one artifact; the put rejects if the tool fails. */
  async #dumpTo(
    client: PgClient, sink: ArtifactSink, artifact: string, tool: 'pg_dump' | 'pg_dumpall', args: string[],
    ctx: SourceContext, commands: string[], what: string,
  ): Promise<void> {
    const spec = client.spec(tool, args, ctx.signal);
    commands.push(describeCommand(spec));
    const cmd = watchIdle(this.#deps.runner.start(spec), this.#timeouts.idleMs);
    cmd.stdin.end();
    try {
      await sink.put(artifact, guardedOutput(cmd, (fin) => (succeeded(fin) ? undefined : client.failure(what, fin))));
    } catch (err) {
      // The sink may fail before it read anything: the tool must not stay blocked on a full pipe.
      cmd.kill('SIGKILL');
      await cmd.done;
      throw err;
    }
  }

  async #backupDatabase(client: PgClient, db: string, sink: ArtifactSink, ctx: SourceContext, commands: string[]): Promise<DatabaseFingerprint> {
    const holder = this.#deps.runner.start(client.spec('psql', ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', dbArg(db), '-f', '-'], ctx.signal));
    holder.stdin.write('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;\nSELECT pg_export_snapshot();\n');
    const snapshot = await firstLine(holder);
    try {
      if (snapshot === undefined) {
        const fin = await holder.done;
        // Servers that cannot export snapshots (old standbys): pg_dump's own snapshot, and a
        // fingerprint that may differ from the dump if the data changes meanwhile.
        // psql exits 3 when a statement failed (as opposed to 2: no connection).
        if (fin.code !== 3 || !/snapshot/i.test(fin.stderr)) {
          throw client.failure(`opening a snapshot of database "${db}"`, fin);
        }
        ctx.log.warn(`${client.label}: database "${db}" cannot export a snapshot; its fingerprint is taken separately from the dump`);
      }
      const fingerprint = await this.#fingerprintDb(client, db, ctx, snapshot);
      const args = ['--format=custom', '--compress=0'];
      if (snapshot !== undefined) args.push(`--snapshot=${snapshot}`);
      for (const pattern of this.#config.exclude_tables ?? []) args.push(`--exclude-table=${pattern}`);
      args.push('-d', dbArg(db));
      await this.#dumpTo(client, sink, dumpArtifactName(db), 'pg_dump', args, ctx, commands, `pg_dump of database "${db}"`);
      ctx.log.info(`${client.label}: dumped database "${db}" (${Object.keys(fingerprint.tables).length} tables)`);
      return fingerprint;
    } finally {
      holder.stdin.end('COMMIT;\n');
      await holder.done;
    }
  }

  restore(reader: ArtifactReader, ctx: SourceContext, opts: RestoreOptions = {}): Promise<void> {
    return this.#guard(ctx, 'restore', async () => {
      const client = await this.#client();
      const info = await this.#info(client, ctx, MAINTENANCE_DB);
      await this.#chooseTools(client, info);
      const names = reader.list().map((a) => a.name);
      const inBackup = names.map(databaseOfArtifact).filter((d): d is string => d !== undefined);
      const targets = restoreTargets(inBackup, opts.to, client.label);
      const leftover = await client.json<string[] | null>(MAINTENANCE_DB, LEFTOVERS_SQL, 'looking for databases of interrupted restores', { signal: ctx.signal });
      if (leftover !== null) {
        ctx.log.warn(`${client.label}: databases left by an interrupted restore: ${leftover.join(', ')}; drop them once you know they are not needed (lifeboat_old_* held the data a restore replaced)`);
      }
      if (names.includes(GLOBALS_ARTIFACT)) await this.#restoreGlobals(client, reader, info, opts.to !== undefined, ctx);
      const expected = (opts.expected as { databases?: Record<string, unknown> } | undefined)?.databases;
      for (const t of targets) await this.#restoreDatabase(client, reader, t, info, ctx, expected?.[t.from]);
    });
  }

  async #restoreGlobals(client: PgClient, reader: ArtifactReader, info: ServerInfo, copy: boolean, ctx: SourceContext): Promise<void> {
    const filtered = filterGlobals(reader.open(GLOBALS_ARTIFACT), {
      roles: new Set(info.roles ?? []),
      tablespaces: new Set(info.tablespaces ?? []),
      currentUser: info.user,
      keepExistingRoles: copy,
    });
    const spec = client.spec('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', MAINTENANCE_DB, '-f', '-'], ctx.signal);
    const r = await collect(this.#deps.runner, spec, filtered);
    if (!succeeded(r)) {
      throw client.failure('restoring roles and tablespaces (globals.sql)', r, {
        hint: info.super ? undefined : 'restoring roles needs a superuser (or CREATEROLE); connect as one',
      });
    }
    ctx.log.info(`${client.label}: restored roles and tablespaces`);
  }

  /**
   * Replaces database `t.to` whole with archive `t.from` (see postgres-replace.ts): load into a
   * fresh database, compare its fingerprint with the backup's, swap names, drop the old one.
   * Until the swap the live database is untouched, and any failure drops the fresh one.
   */
  async #restoreDatabase(
    client: PgClient, reader: ArtifactReader, t: RestoreTarget, info: ServerInfo, ctx: SourceContext, expected: unknown,
  ): Promise<void> {
    const artifact = dumpArtifactName(t.from);
    const ts = drillTimestamp(nowDate());
    const fresh = workDatabaseName('restore', ts, t.to);
    const old = workDatabaseName('old', ts, t.to);
    // The session that renames must not be in one of the databases it renames.
    const admin = [MAINTENANCE_DB, 'template1'].find((d) => d !== t.to) ?? MAINTENANCE_DB;
    const drop = (db: string): Promise<string> => client.psql(admin, dropSql(info.num), `dropping database "${db}"`, { vars: { db } });

    await createDatabaseLike(client, this.#deps.runner, this.#deps.tmpDir, {
      reader, artifact, from: t.from, name: fresh, owners: info.super, admin, signal: ctx.signal,
    });
    let swapped = false;
    try {
      await this.#load(client, reader, artifact, fresh, info, ctx, `pg_restore of "${t.from}" into a new database "${fresh}"`);
      const exists = await client.json<{ e: boolean }>(admin, `SELECT json_build_object('e', EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db'));`, `looking for database "${t.to}"`, {
        vars: { db: t.to },
        signal: ctx.signal,
      });
      // Only a live database is kept from a copy that differs; with none, the copy is the best
      // there is, and the caller's own comparison reports the difference.
      if (exists.e && expected !== undefined) {
        const diff = compareFingerprints(expected, await this.#fingerprintDb(client, fresh, ctx));
        if (diff.length > 0) {
          throw new SourceError(`${client.label}: the restored copy of database "${t.from}" differs from the backup (${diff.length} differences; first: ${diff[0]}); database "${t.to}" was not replaced`, {
            hint: `run "lifeboat verify" on the snapshot; if the difference is expected, rename database "${t.to}" away and restore again (a missing database is restored whatever the comparison says)`,
            data: { differences: diff },
          });
        }
      }
      if (ctx.signal.aborted) throw new CancelledError(`restore of postgres source "${this.name}" cancelled`);
      if (!exists.e) {
        await client.psql(admin, `ALTER DATABASE :"fresh" RENAME TO :"live";`, `naming the restored database "${t.to}"`, { vars: { fresh, live: t.to } });
        swapped = true;
      } else {
        // No signal: the swap is one transaction, and once it began it is finished rather than cancelled.
        await client.psql(admin, SWAP_SQL, `swapping the restored database in as "${t.to}"`, { vars: { live: t.to, fresh, old } });
        swapped = true;
        try {
          await drop(old);
        } catch (err) {
          ctx.log.warn(`${client.label}: the replaced database is kept as "${old}": ${errorMessage(err)}; drop it when it is no longer needed`);
        }
      }
    } finally {
      if (!swapped) await drop(fresh).catch((err: unknown) => ctx.log.warn(`${client.label}: cannot drop the unfinished database "${fresh}": ${errorMessage(err)}`));
    }
    ctx.log.info(`${client.label}: replaced database "${t.to}" with the snapshot${t.to === t.from ? '' : ` of "${t.from}"`}`);
  }

  /** pg_restore of one archive into an empty database. */
  async #load(client: PgClient, reader: ArtifactReader, artifact: string, db: string, info: ServerInfo, ctx: SourceContext, what: string): Promise<void> {
    const args = info.super ? [] : ['--no-owner'];
    args.push('-d', dbArg(db));
    const jobs = this.#config.jobs;
    if (jobs <= 1) {
      const r = await collect(this.#deps.runner, client.spec('pg_restore', args, ctx.signal), reader.open(artifact));
      if (!succeeded(r)) throw client.failure(what, r);
      return;
    }
    // pg_restore --jobs seeks in the archive: stage it where pg_restore runs (0600, removed right after).
    let staged: StagedFile;
    try {
      staged = await stageFile(this.#deps.runner, this.#deps.tmpDir, 'archive.dump', reader.open(artifact), ctx.signal);
    } catch (err) {
      // A damaged artifact (IntegrityError from the reader) is reported as it is.
      if (isLifeboatError(err)) throw err;
      throw new SourceError(`${client.label}: staging ${artifact} for a parallel restore failed: ${errorMessage(err)}`, {
        cause: err,
        hint: 'free space in the temp dir, or set jobs: 1 to stream the archive into pg_restore',
      });
    }
    try {
      const r = await collect(this.#deps.runner, client.spec('pg_restore', [...args, `--jobs=${jobs}`, staged.path], ctx.signal));
      if (!succeeded(r)) throw client.failure(what, r);
    } finally {
      await staged.remove();
    }
  }

  fingerprint(ctx: SourceContext, opts: RestoreOptions = {}): Promise<Fingerprint> {
    return this.#guard(ctx, 'fingerprint', async () => {
      const client = await this.#client();
      let targets: RestoreTarget[];
      if (opts.to !== undefined) {
        targets = restoreTargets(this.#config.databases === 'all' ? undefined : this.#config.databases, opts.to, client.label);
      } else {
        const info = await this.#info(client, ctx, this.#maintenanceDb());
        targets = (await this.#databases(client, info, ctx)).map((d) => ({ from: d, to: d }));
      }
      const databases: Record<string, DatabaseFingerprint> = {};
      for (const t of targets) databases[t.from] = await this.#fingerprintDb(client, t.to, ctx);
      return { databases };
    });
  }

  /**
   * Reads the stored archives with pg_restore only: no connection, so no password is resolved
   * and the server may be down. bin_dir (else PATH) supplies pg_restore.
   */
  verify(reader: ArtifactReader, ctx: SourceContext): Promise<VerifyResult> {
    return this.#guard(ctx, 'verify', async () => {
      const c = this.#config.connection;
      const client = new PgClient(this.#deps.runner, this.name, { host: c.host, port: c.port, user: c.user }, this.#config.bin_dir);
      const checks: string[] = [];
      const problems: string[] = [];
      const names = reader.list().map((a) => a.name);
      if (names.includes(GLOBALS_ARTIFACT)) {
        const r = await verifyGlobals(reader, GLOBALS_ARTIFACT);
        checks.push(...r.checks);
        problems.push(...r.problems);
      } else {
        problems.push(`${GLOBALS_ARTIFACT}: missing from the snapshot (every postgres backup stores the roles and tablespaces)`);
      }
      const archives = names.filter((n) => databaseOfArtifact(n) !== undefined);
      if (archives.length === 0) checks.push('no database archives in the snapshot (the server had no databases to dump)');
      for (const artifact of archives) {
        const r = await verifyArchive(client, this.#deps.runner, reader, artifact, databaseOfArtifact(artifact) ?? '', ctx.signal);
        // An abort kills pg_restore, which would read as a damaged archive.
        if (ctx.signal.aborted) throw new CancelledError(`verify of postgres source "${this.name}" cancelled`);
        checks.push(...r.checks);
        problems.push(...r.problems);
      }
      return { checks, problems };
    });
  }

  scratchTarget(reader: ArtifactReader, ctx: SourceContext): Promise<ScratchTarget> {
    return this.#guard(ctx, 'scratch target', async () => {
      const client = await this.#client();
      const databases = reader.list().map((a) => databaseOfArtifact(a.name)).filter((d): d is string => d !== undefined);
      if (databases.length === 0) throw new SourceError(`${client.label}: the snapshot holds no database archive to drill`);
      for (const db of databases) {
        const problem = mappingProblem(db);
        if (problem !== undefined) {
          throw new SourceError(`${client.label}: database "${db}" cannot be drilled: its name ${problem}, which a to: mapping cannot express`, {
            hint: 'restore it by hand with pg_restore into a database of another name',
          });
        }
      }
      const info = await this.#info(client, ctx, MAINTENANCE_DB);
      const ts = drillTimestamp(nowDate());
      const targets = databases.map((db) => ({ from: db, to: drillDatabaseName(ts, db) }));
      const created: string[] = [];
      // Cleanup may run after a cancellation: its commands must not carry the aborted signal.
      const drop = async (): Promise<void> => {
        for (const db of [...created]) {
          const sql = info.num >= 130000
            ? `DROP DATABASE IF EXISTS :"db" WITH (FORCE);`
            : `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :'db';\nDROP DATABASE IF EXISTS :"db";`;
          await client.psql(MAINTENANCE_DB, sql, `dropping drill database "${db}"`, { vars: { db } });
          const i = created.indexOf(db);
          if (i >= 0) created.splice(i, 1);
        }
      };
      try {
        for (const t of targets) {
          await client.psql(MAINTENANCE_DB, `CREATE DATABASE :"db" TEMPLATE template0;`, `creating drill database "${t.to}"`, { vars: { db: t.to }, signal: ctx.signal });
          created.push(t.to);
        }
      } catch (err) {
        await drop().catch(() => undefined);
        throw err;
      }
      const c = this.#config.connection;
      ctx.log.info(`${client.label}: created drill databases ${targets.map((t) => t.to).join(', ')}`);
      return {
        to: targets.map((t) => `${t.from}=${t.to}`).join(','),
        description: `${targets.length === 1 ? 'database' : 'databases'} ${targets.map((t) => t.to).join(', ')} on ${c.host}:${c.port}`,
        cleanup: drop,
      };
    });
  }
}

export const postgresType = {
  type: 'postgres',
  description: 'PostgreSQL: pg_dump of each database (custom format) plus roles and tablespaces',
  keys: postgresKeys,
  pathKeys: ['bin_dir'],
  create: (name, config, deps) => new PostgresSource(name, config, deps),
} satisfies SourceType<PostgresConfig>;
