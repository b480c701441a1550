/**
 * The `mysql` source: every configured database of one MySQL or MariaDB server as an SQL
 * dump, `<database>.sql` (a name that is not a plain file name is percent-encoded).
 *
 * Backup: per database, mariadb-dump (or mysqldump) --single-transaction --routines --events
 * --triggers --hex-blob --databases <db>, streamed into the artifact. A dump is accepted only
 * if the tool exited 0 and the stream ends with the "-- Dump completed" trailer: a server that
 * dies half way, or a tool killed by a signal, makes backup() reject.
 *
 * Fingerprint: exact row counts and a schema hash (mysql-fingerprint.ts), taken in its own
 * consistent snapshot just before the dump. MySQL cannot share a snapshot between sessions,
 * so writes that land between the fingerprint and the dump's snapshot can make a later
 * comparison report a difference that is not a restore error.
 *
 * Restore replaces each database whole, so tables created after the snapshot are gone: the dump
 * is piped into the mariadb (mysql) client (which stops at the first error), first into a fresh
 * database that is checked against the backup's fingerprint, then, once that copy is good, into
 * the dropped and recreated live database (see #replace for the order and the trade-off). The
 * dump's CREATE DATABASE keeps the original character set and collation.
 * `to`: "newname" (one-database backups) or "app=app_copy,shop=shop_copy"; the dump keeps
 * --databases, and its CREATE DATABASE and USE lines are renamed on the fly (mysql-rename.ts).
 *
 * Accounts and grants (the `mysql` system database) are not part of this source.
 *
 * verify reads each dump without a server (mysql-verify.ts): tool header, CREATE DATABASE line,
 * statement counts, trailer. A drill restores every dump into `lifeboat_drill_<UTC time>_<db>`
 * through the rename above; the scratch target refuses names that already exist (it does not
 * create them itself, so the dump's CREATE DATABASE keeps the original character set) and its
 * cleanup drops them.
 */
import { restoreTargets } from '../database-targets.ts';
import type { RestoreTarget } from '../database-targets.ts';
import type { RunningCommand } from '../../core/command-runner.ts';
import { CancelledError, SourceError, errorMessage } from '../../core/errors.ts';
import { compareFingerprints } from '../../core/source.ts';
import type {
  ArtifactReader, ArtifactSink, BackupOutcome, Fingerprint, RestoreOptions, ScratchTarget, Source, SourceContext, VerifyResult,
} from '../../core/source.ts';
import { sourceTimeouts } from '../source-kit.ts';
import type { SourceDeps, SourceTimeouts, SourceType } from '../source-kit.ts';
import { MysqlClient, quoteIdent, quoteLiteral } from './mysql-client.ts';
import { mysqlKeys } from './mysql-config.ts';
import type { MysqlConfig } from './mysql-config.ts';
import { countSql, schemaSql, toDatabaseFingerprint } from './mysql-fingerprint.ts';
import type { DatabaseFingerprint } from './mysql-fingerprint.ts';
import { collect, guardedOutput, succeeded, watchIdle } from '../process-kit.ts';
import { renameDatabase } from './mysql-rename.ts';
import { drillDatabaseName, drillTimestamp, mappingProblem, verifyDump, workDatabaseName } from './mysql-verify.ts';
import { nowDate } from '../../util/clock.ts';

const DUMP_SUFFIX = '.sql';
const SYSTEM_DATABASES = new Set(['information_schema', 'performance_schema', 'mysql', 'sys']);
const TRAILER = '-- Dump completed';

export function dumpArtifactName(db: string): string {
  return `${encodeURIComponent(db)}${DUMP_SUFFIX}`;
}

export function databaseOfArtifact(name: string): string | undefined {
  if (!name.endsWith(DUMP_SUFFIX) || name.includes('/')) return undefined;
  try {
    return decodeURIComponent(name.slice(0, -DUMP_SUFFIX.length));
  } catch {
    return undefined;
  }
}

/** Whether the end of a dump carries the trailer mysqldump writes after its last statement. */
export function hasTrailer(tail: Buffer): boolean {
  return tail.toString('latin1').trimEnd().split('\n').pop()?.startsWith(TRAILER) ?? false;
}


/** "10.11.19-MariaDB-0+deb12u1" → "MariaDB 10.11.19"; "8.0.36" → "MySQL 8.0.36". */
export function describeServerVersion(version: string): string {
  const number = version.split('-')[0];
  return /mariadb/i.test(version) ? `MariaDB ${number}` : `MySQL ${number}`;
}

export class MysqlSource implements Source {
  readonly name: string;
  readonly type = 'mysql';
  readonly #config: MysqlConfig;
  readonly #deps: SourceDeps;
  readonly #timeouts: SourceTimeouts;

  /** `config` as lifeboat.yml's schema parsed it (defaults applied), common keys included. */
  constructor(name: string, config: MysqlConfig, deps: SourceDeps) {
    this.name = name;
    this.#config = config;
    this.#deps = deps;
    this.#timeouts = sourceTimeouts(config);
  }

  /** Runs `fn` with a client for this source's server. */
  async #withClient<T>(ctx: SourceContext, what: string, fn: (client: MysqlClient) => Promise<T>): Promise<T> {
    const c = this.#config.connection;
    const password = c.password === undefined ? undefined : await this.#deps.secrets(c.password, `password of mysql source "${this.name}"`);
    const client = new MysqlClient(this.#deps.runner, this.name, { host: c.host, port: c.port, user: c.user, password, socket: c.socket, connectTimeoutMs: this.#timeouts.connectMs }, this.#config.bin_dir);
    try {
      await client.resolveTools();
      return await fn(client);
    } catch (err) {
      if (ctx.signal.aborted) throw new CancelledError(`${what} of mysql source "${this.name}" cancelled`, { cause: err });
      throw err;
    }
  }

  async #databases(client: MysqlClient, ctx: SourceContext): Promise<string[]> {
    if (this.#config.databases !== 'all') return [...this.#config.databases];
    const rows = await client.query('SHOW DATABASES;', 'listing databases', ctx.signal);
    return rows.map((r) => r[0]).filter((d) => !SYSTEM_DATABASES.has(d.toLowerCase())).sort();
  }

  async #fingerprintDb(client: MysqlClient, db: string, ctx: SourceContext): Promise<DatabaseFingerprint> {
    const rows = await client.query(schemaSql(db), `reading the schema of database "${db}"`, ctx.signal);
    const tables = rows.filter((r) => r[0] === 'table').map((r) => r[1]);
    const lines = rows.filter((r) => r[0] === 'line').map((r) => r[1]);
    const counts = tables.length === 0 ? [] : (await client.query(countSql(db, tables), `counting rows of database "${db}"`, ctx.signal)).map((r) => r[0]);
    if (counts.length !== tables.length) throw new SourceError(`${client.label}: counting rows of database "${db}" returned ${counts.length} counts for ${tables.length} tables`);
    return toDatabaseFingerprint(tables, counts, lines);
  }

  backup(sink: ArtifactSink, ctx: SourceContext): Promise<BackupOutcome> {
    return this.#withClient(ctx, 'backup', async (client) => {
      const version = (await client.query('SELECT VERSION();', 'reading the server version', ctx.signal))[0]?.[0] ?? 'unknown';
      const serverVersion = describeServerVersion(version);
      ctx.log.info(`${client.label}: ${serverVersion}`);
      const commands: string[] = [];
      const fingerprints: Record<string, DatabaseFingerprint> = {};
      for (const db of await this.#databases(client, ctx)) {
        fingerprints[db] = await this.#fingerprintDb(client, db, ctx);
        const args = ['--single-transaction', '--routines', '--events', '--triggers', '--hex-blob', '--no-tablespaces', '--default-character-set=utf8mb4'];
        // MySQL's mysqldump: no GTID_PURGED statement (it breaks loading into a server with GTIDs),
        // and no column statistics query (MariaDB servers lack that table).
        if (client.isMysqlDump()) args.push('--set-gtid-purged=OFF', ...(/mariadb/i.test(version) ? ['--column-statistics=0'] : []));
        args.push('--databases', db);
        const spec = client.spec('dump', args, ctx.signal);
        commands.push(client.describe(spec));
        const cmd = watchIdle(this.#deps.runner.start(spec), this.#timeouts.idleMs);
        cmd.stdin.end();
        const what = `dump of database "${db}"`;
        await this.#put(sink, dumpArtifactName(db), cmd, (fin, tail) => {
          if (!succeeded(fin)) return client.failure(what, fin);
          if (!hasTrailer(tail)) {
            return new SourceError(`${client.label}: ${what} is truncated: it does not end with "${TRAILER}"`, {
              hint: 'the dump tool stopped early; check the server log and run the backup again',
            });
          }
          return undefined;
        });
        ctx.log.info(`${client.label}: dumped database "${db}" (${Object.keys(fingerprints[db].tables).length} tables)`);
      }
      return { fingerprint: { databases: fingerprints }, serverVersion, commands };
    });
  }

  async #put(sink: ArtifactSink, artifact: string, cmd: RunningCommand, check: Parameters<typeof guardedOutput>[1]): Promise<void> {
    try {
      await sink.put(artifact, guardedOutput(cmd, check));
    } catch (err) {
      // The sink may fail before it read anything: the tool must not stay blocked on a full pipe.
      cmd.kill('SIGKILL');
      await cmd.done;
      throw err;
    }
  }

  restore(reader: ArtifactReader, ctx: SourceContext, opts: RestoreOptions = {}): Promise<void> {
    return this.#withClient(ctx, 'restore', async (client) => {
      const inBackup = reader.list().map((a) => databaseOfArtifact(a.name)).filter((d): d is string => d !== undefined);
      const leftover = await client.query(`SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME REGEXP '^lifeboat_restore_[0-9]{8}T[0-9]{6}_' ORDER BY 1;`, 'looking for databases of interrupted restores', ctx.signal);
      if (leftover.length > 0) {
        ctx.log.warn(`${client.label}: databases left by an interrupted restore: ${leftover.map((r) => r[0]).join(', ')}; each holds a checked copy of a snapshot: drop them once you know they are not needed`);
      }
      const expected = (opts.expected as { databases?: Record<string, unknown> } | undefined)?.databases;
      for (const t of restoreTargets(inBackup, opts.to, client.label)) await this.#replace(client, reader, t, ctx, expected?.[t.from]);
    });
  }

  /** Loads one dump into database `to` (which must not exist: the dump's CREATE DATABASE says IF NOT EXISTS). */
  async #load(client: MysqlClient, reader: ArtifactReader, from: string, to: string, ctx: SourceContext): Promise<void> {
    const artifact = dumpArtifactName(from);
    const input = to === from ? reader.open(artifact) : renameDatabase(reader.open(artifact), from, to);
    const r = await collect(this.#deps.runner, client.spec('client', ['--batch'], ctx.signal), input);
    if (!succeeded(r)) throw client.failure(`loading ${artifact} into database "${to}"`, r);
  }

  /**
   * Replaces database `t.to` whole with dump `t.from`. MariaDB cannot rename a database, and
   * moving tables between databases fails for tables with triggers and for views, so: (1) load
   * into a fresh database `lifeboat_restore_<time>_<db>` and compare its fingerprint with the
   * backup's; any failure so far drops it and leaves the live database untouched; (2) drop the
   * live database and load the dump again under its name; (3) drop the fresh copy. If (2)
   * fails, the checked copy is kept and named in the error.
   */
  async #replace(client: MysqlClient, reader: ArtifactReader, t: RestoreTarget, ctx: SourceContext, expected: unknown): Promise<void> {
    const exists = async (db: string): Promise<boolean> =>
      (await client.query(`SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ${quoteLiteral(db)};`, `looking for database "${db}"`, ctx.signal)).length > 0;
    // Nothing to keep safe (a first restore, a drill's new name): load straight into the target.
    const direct = !(await exists(t.to));
    const fresh = direct ? t.to : workDatabaseName('restore', drillTimestamp(nowDate()), t.to);
    const dropFresh = (): Promise<unknown> => client.query(`DROP DATABASE IF EXISTS ${quoteIdent(fresh)};`, `dropping database "${fresh}"`);
    if (!direct && (await exists(fresh))) throw new SourceError(`${client.label}: database "${fresh}" already exists; a restore loads into a new database first`, { hint: `an earlier restore may have been killed: drop "${fresh}", then run the restore again` });
    let keepFresh = false;
    try {
      await this.#load(client, reader, t.from, fresh, ctx);
      // Only a live database is kept from a copy that differs (the fingerprint is taken apart
      // from the dump, so writes during the backup can make it differ); with none, the caller's
      // own comparison reports the difference.
      if (!direct && expected !== undefined) {
        const diff = compareFingerprints(expected, await this.#fingerprintDb(client, fresh, ctx));
        if (diff.length > 0) {
          throw new SourceError(`${client.label}: the restored copy of database "${t.from}" differs from the backup (${diff.length} differences; first: ${diff[0]}); database "${t.to}" was not replaced`, {
            hint: `run "lifeboat verify" on the snapshot; if the difference is expected, drop database "${t.to}" and restore again (a missing database is restored whatever the comparison says)`,
            data: { differences: diff },
          });
        }
      }
      if (ctx.signal.aborted) throw new CancelledError(`restore of mysql source "${this.name}" cancelled`);
      keepFresh = true;
      if (!direct) {
        // From here no signal: stopping between the drop and the load would leave nothing in place.
        const quiet: SourceContext = { signal: new AbortController().signal, log: ctx.log };
        await client.query(`DROP DATABASE IF EXISTS ${quoteIdent(t.to)};`, `dropping database "${t.to}" to replace it`);
        try {
          await this.#load(client, reader, t.from, t.to, quiet);
        } catch (err) {
          throw new SourceError(`${errorMessage(err)}; the snapshot's data is complete in database "${fresh}"`, {
            cause: err,
            hint: `load it back by hand, or drop "${t.to}" and run the restore again`,
          });
        }
        keepFresh = false;
      }
    } finally {
      if (!keepFresh) await dropFresh().catch((err: unknown) => ctx.log.warn(`${client.label}: cannot drop database "${fresh}": ${errorMessage(err)}`));
    }
    ctx.log.info(`${client.label}: replaced database "${t.to}" with the snapshot${t.to === t.from ? '' : ` of "${t.from}"`}`);
  }

  fingerprint(ctx: SourceContext, opts: RestoreOptions = {}): Promise<Fingerprint> {
    return this.#withClient(ctx, 'fingerprint', async (client) => {
      const targets = opts.to !== undefined
        ? restoreTargets(this.#config.databases === 'all' ? undefined : this.#config.databases, opts.to, client.label)
        : (await this.#databases(client, ctx)).map((d) => ({ from: d, to: d }));
      const databases: Record<string, DatabaseFingerprint> = {};
      for (const t of targets) databases[t.from] = await this.#fingerprintDb(client, t.to, ctx);
      return { databases };
    });
  }

  /** Reads every dump to its end; no connection, so the server may be down. */
  async verify(reader: ArtifactReader, ctx: SourceContext): Promise<VerifyResult> {
    const checks: string[] = [];
    const problems: string[] = [];
    const dumps = reader.list().map((a) => a.name).filter((n) => databaseOfArtifact(n) !== undefined);
    if (dumps.length === 0) checks.push('no database dumps in the snapshot (the server had no databases to dump)');
    for (const artifact of dumps) {
      if (ctx.signal.aborted) throw new CancelledError(`verify of mysql source "${this.name}" cancelled`);
      const r = await verifyDump(reader, artifact, databaseOfArtifact(artifact) ?? '');
      checks.push(...r.checks);
      problems.push(...r.problems);
    }
    return { checks, problems };
  }

  async scratchTarget(reader: ArtifactReader, ctx: SourceContext): Promise<ScratchTarget> {
    const databases = reader.list().map((a) => databaseOfArtifact(a.name)).filter((d): d is string => d !== undefined);
    const ts = drillTimestamp(nowDate());
    const targets = databases.map((db) => ({ from: db, to: drillDatabaseName(ts, db) }));
    const label = await this.#withClient(ctx, 'scratch target', async (client) => {
      if (databases.length === 0) throw new SourceError(`${client.label}: the snapshot holds no database dump to drill`);
      for (const db of databases) {
        const problem = mappingProblem(db);
        if (problem !== undefined) {
          throw new SourceError(`${client.label}: database "${db}" cannot be drilled: its name ${problem}, which a to: mapping cannot express`, {
            hint: 'load the dump by hand into a database of another name',
          });
        }
      }
      const names = targets.map((t) => quoteLiteral(t.to)).join(', ');
      const taken = await client.query(`SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME IN (${names});`, 'looking for drill databases', ctx.signal);
      if (taken.length > 0) {
        throw new SourceError(`${client.label}: drill database ${taken.map((r) => `"${r[0]}"`).join(', ')} already exists; a drill never restores over an existing database`, {
          hint: 'an earlier drill may have been killed before its cleanup: drop it, then run the drill again',
        });
      }
      return client.label;
    });
    // Cleanup may run after a cancellation: it gets a signal of its own.
    const cleanupCtx: SourceContext = { signal: new AbortController().signal, log: ctx.log };
    let done = false;
    const cleanup = async (): Promise<void> => {
      if (done) return;
      await this.#withClient(cleanupCtx, 'drill cleanup', async (client) => {
        const sql = targets.map((t) => `DROP DATABASE IF EXISTS ${quoteIdent(t.to)};`).join('\n');
        await client.query(sql, `dropping drill databases ${targets.map((t) => t.to).join(', ')}`);
      });
      done = true;
    };
    const c = this.#config.connection;
    ctx.log.info(`${label}: drill databases will be ${targets.map((t) => t.to).join(', ')}`);
    return {
      to: targets.map((t) => `${t.from}=${t.to}`).join(','),
      description: `${targets.length === 1 ? 'database' : 'databases'} ${targets.map((t) => t.to).join(', ')} on ${c.socket ?? `${c.host}:${c.port}`}`,
      cleanup,
    };
  }
}

export const mysqlType = {
  type: 'mysql',
  description: 'MySQL / MariaDB: mariadb-dump (mysqldump) of each database, single transaction',
  keys: mysqlKeys,
  pathKeys: ['bin_dir', 'connection.socket'],
  create: (name, config, deps) => new MysqlSource(name, config, deps),
} satisfies SourceType<MysqlConfig>;
