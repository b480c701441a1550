/**
 * The narrow PostgreSQL client the postgres source needs: psql for catalog queries (results as
 * one JSON value, so names with any characters survive), tool lookup with the pg_dump-vs-
 * server version check, and the error shape every failure takes.
 *
 * Connection parameters travel in PGHOST/PGPORT/PGUSER/PGPASSWORD/PGSSLMODE, never in argv.
 * A database name is passed with -d, which libpq would expand as a connection string if the
 * name contained "=" or began with a URI scheme; such names are wrapped as dbname='...'.
 */
import { SourceError } from '../../core/errors.ts';
import type { LifeboatErrorOptions } from '../../core/errors.ts';
import type { CommandRunner, RunSpec } from '../../core/command-runner.ts';
import { collect, scrub, succeeded } from '../process-kit.ts';
import type { Collected, Finished } from '../process-kit.ts';

export interface PgConnection {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password?: string;
  readonly sslmode?: string;
  /** libpq's connect_timeout (whole seconds, at least 2: libpq raises lower values to 2). */
  readonly connectTimeoutMs?: number;
}

export type PgTool = 'psql' | 'pg_dump' | 'pg_dumpall' | 'pg_restore';

/** The -d argument for a database name, safe from libpq's connection-string expansion. */
export function dbArg(name: string): string {
  if (/^[A-Za-z0-9_][A-Za-z0-9_$.-]*$/.test(name)) return name;
  return `dbname='${name.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
}

/** "pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)" → 15; "9.6.24" → 9 (9.x majors are 9.x, but 9 < 10 is all we compare). */
export function toolMajor(versionText: string): number | undefined {
  const m = /\(PostgreSQL\)\s+(\d+)/.exec(versionText) ?? /\b(\d+)\.\d+/.exec(versionText);
  return m ? Number(m[1]) : undefined;
}

/** server_version_num 150018 → 15; 90624 → 9. */
export function serverMajor(versionNum: number): number {
  return Math.floor(versionNum / 10000);
}

/**
 * Why this pg_dump cannot dump this server, or undefined when it can. pg_dump refuses (or
 * worse, silently misses features of) a server newer than itself; an older server is fine.
 */
export function dumpVersionProblem(dumpVersionText: string, serverVersionNum: number): string | undefined {
  const server = serverMajor(serverVersionNum);
  const tool = toolMajor(dumpVersionText);
  if (tool === undefined) return `cannot tell the version of pg_dump from "${dumpVersionText.trim()}"`;
  if (tool >= server) return undefined;
  return `pg_dump ${tool} is older than the PostgreSQL ${server} server: install postgresql-client-${server} or set bin_dir to the directory of pg_dump ${server} or newer`;
}

/** Identifier quoting as PostgreSQL's quote_ident does it, for messages and SQL we build. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

export class PgClient {
  readonly #runner: CommandRunner;
  readonly #conn: PgConnection;
  /** Directory of the tools; undefined = PATH. Set by useToolDir once pg_dump is chosen. */
  #toolDir: string | undefined;
  /** "postgres source "db" (postgres@host:5432)" — the start of every message. */
  readonly label: string;

  constructor(runner: CommandRunner, sourceName: string, conn: PgConnection, toolDir: string | undefined) {
    this.#runner = runner;
    this.#conn = conn;
    this.#toolDir = toolDir;
    this.label = `postgres source "${sourceName}" (${conn.user}@${conn.host}:${conn.port})`;
  }

  get toolDir(): string | undefined {
    return this.#toolDir;
  }

  useToolDir(dir: string | undefined): void {
    this.#toolDir = dir;
  }

  tool(name: PgTool, dir = this.#toolDir): string {
    return dir === undefined ? name : `${dir.replace(/\/+$/, '')}/${name}`;
  }

  /** libpq connection variables; the password only here. */
  env(): Record<string, string> {
    const env: Record<string, string> = {
      PGHOST: this.#conn.host,
      PGPORT: String(this.#conn.port),
      PGUSER: this.#conn.user,
      PGAPPNAME: 'lifeboat',
    };
    if (this.#conn.password !== undefined) env.PGPASSWORD = this.#conn.password;
    if (this.#conn.sslmode !== undefined) env.PGSSLMODE = this.#conn.sslmode;
    if (this.#conn.connectTimeoutMs !== undefined) env.PGCONNECT_TIMEOUT = String(Math.max(2, Math.ceil(this.#conn.connectTimeoutMs / 1000)));
    return env;
  }

  spec(tool: PgTool, args: readonly string[], signal?: AbortSignal): RunSpec {
    return { command: this.tool(tool), args, env: this.env(), signal };
  }

  /**
   * Runs SQL (fed on stdin, so psql variables `:'name'` are interpolated from `vars`) in one
   * database and returns the unaligned, tuples-only output. Errors stop the script.
   */
  async psql(db: string, sql: string, what: string, opts: { vars?: Record<string, string>; signal?: AbortSignal } = {}): Promise<string> {
    const args = ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1'];
    for (const [k, v] of Object.entries(opts.vars ?? {})) args.push('-v', `${k}=${v}`);
    args.push('-d', dbArg(db), '-f', '-');
    const r = await collect(this.#runner, this.spec('psql', args, opts.signal), sql);
    if (!succeeded(r)) throw this.failure(`${what} (psql on database "${db}")`, r);
    return r.stdout;
  }

  /** Like psql, for queries that return one JSON value. */
  async json<T>(db: string, sql: string, what: string, opts: { vars?: Record<string, string>; signal?: AbortSignal } = {}): Promise<T> {
    const out = (await this.psql(db, sql, what, opts)).trim();
    try {
      return JSON.parse(out === '' ? 'null' : out) as T;
    } catch (err) {
      throw new SourceError(`${this.label}: ${what} returned unreadable output`, { cause: err, data: { output: out.slice(0, 200) } });
    }
  }

  /** `<tool> --version`, or undefined when the tool is not there. */
  async version(tool: PgTool, dir = this.#toolDir): Promise<string | undefined> {
    const r: Collected = await collect(this.#runner, { command: this.tool(tool, dir), args: ['--version'] });
    return succeeded(r) ? r.stdout.trim() : undefined;
  }

  /** A SourceError for a failed tool run: names the source, the host and what to do. */
  failure(what: string, fin: Finished, extra: LifeboatErrorOptions = {}): SourceError {
    const stderr = scrub(fin.stderr, this.#conn.password);
    const status = fin.signal !== null ? `killed by ${fin.signal}` : fin.code === 127 ? 'tool not found' : `exit ${fin.code}`;
    let hint = extra.hint;
    if (/password authentication failed|no password supplied|authentication failed/i.test(stderr)) {
      hint ??= `check the password of ${this.#conn.user} (connection.password in lifeboat.yml)`;
    } else if (/could not connect|connection refused|could not translate host|timeout expired/i.test(stderr)) {
      hint ??= `check that PostgreSQL is running and reachable at ${this.#conn.host}:${this.#conn.port}`;
    } else if (fin.code === 127) {
      hint ??= 'install the PostgreSQL client tools (postgresql-client) or set bin_dir';
    } else if (/server closed the connection|terminating connection|connection to server .* lost|server process .* terminated/i.test(stderr)) {
      hint ??= 'the server went away during the run; check its logs and run again';
    }
    const message = `${this.label}: ${what} failed (${status})${stderr ? `: ${lastLines(stderr, 6)}` : ''}${hint ? `; ${hint}` : ''}`;
    return new SourceError(message, { ...extra, hint, data: { ...extra.data, code: fin.code, signal: fin.signal } });
  }
}

function lastLines(text: string, n: number): string {
  return text.split('\n').slice(-n).join(' | ');
}
