/**
 * The narrow MySQL/MariaDB client the mysql source needs: which dump and client tools exist
 * (MariaDB's mariadb-dump/mariadb, else mysqldump/mysql), the connection arguments,
 * batch-mode queries, and the error shape every failure takes.
 *
 * The password goes to the tools in MYSQL_PWD, never in argv and never in a file: an option
 * file with the password, even 0600 and removed in `finally`, stays on disk when lifeboat is
 * killed. The environment of a process is readable only by its own user (/proc/<pid>/environ
 * is 0400), as PGPASSWORD is for the postgres source. MariaDB's and MySQL's clients read
 * MYSQL_PWD when no option file gives a password (MySQL 8 deprecates it but still reads it), so
 * a `password` in the running user's ~/.my.cnf would take precedence over lifeboat.yml.
 * Host, port, user and socket go in argv, after any option files the tools read.
 */
import type { CommandRunner, RunSpec } from '../../core/command-runner.ts';
import { describeCommand } from '../../core/command-runner.ts';
import { SourceError } from '../../core/errors.ts';
import type { LifeboatErrorOptions } from '../../core/errors.ts';
import { collect, scrub, succeeded } from '../process-kit.ts';
import type { Finished } from '../process-kit.ts';

export interface MysqlConnection {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password?: string;
  readonly socket?: string;
  /** --connect-timeout of the client tool (the dump tools have none: their output is watched instead). */
  readonly connectTimeoutMs?: number;
}

/** The connection as command-line options (no secret among them). */
export function connectionArgs(conn: MysqlConnection): string[] {
  const args = [`--user=${conn.user}`];
  if (conn.socket !== undefined) args.push(`--socket=${conn.socket}`, '--protocol=socket');
  else args.push(`--host=${conn.host}`, `--port=${conn.port}`, '--protocol=tcp');
  return args;
}

/** `name` as a backquoted identifier. */
export function quoteIdent(name: string): string {
  return `\`${name.replaceAll('`', '``')}\``;
}

/** A string literal valid whatever NO_BACKSLASH_ESCAPES says: hex, converted to utf8mb4. */
export function quoteLiteral(s: string): string {
  return `CONVERT(X'${Buffer.from(s, 'utf8').toString('hex')}' USING utf8mb4)`;
}

/** One row of --batch output: tab-separated, with \0 \t \n \\ escaped by the client. */
export function parseBatchLine(line: string): string[] {
  const map: Record<string, string> = { '0': '\0', t: '\t', n: '\n', r: '\r', '\\': '\\' };
  return line.split('\t').map((f) => f.replace(/\\(.)/g, (_, c: string) => map[c] ?? c));
}

export type MysqlToolKind = 'dump' | 'client';

export class MysqlClient {
  readonly #runner: CommandRunner;
  readonly #conn: MysqlConnection;
  readonly #binDir: string | undefined;
  #tools: { dump: string; client: string; dumpVersion: string } | undefined;
  /** 'mysql source "x" (root@host:3306)' — the start of every message. */
  readonly label: string;

  constructor(runner: CommandRunner, sourceName: string, conn: MysqlConnection, binDir: string | undefined) {
    this.#runner = runner;
    this.#conn = conn;
    this.#binDir = binDir;
    const where = conn.socket !== undefined ? conn.socket : `${conn.host}:${conn.port}`;
    this.label = `mysql source "${sourceName}" (${conn.user}@${where})`;
  }

  #path(name: string): string {
    return this.#binDir === undefined ? name : `${this.#binDir.replace(/\/+$/, '')}/${name}`;
  }

  /** Finds the tools: MariaDB's names first, then MySQL's. */
  async resolveTools(): Promise<{ dump: string; client: string; dumpVersion: string }> {
    if (this.#tools) return this.#tools;
    const find = async (names: string[]): Promise<[string, string] | undefined> => {
      for (const n of names) {
        const r = await collect(this.#runner, { command: this.#path(n), args: ['--version'] });
        if (succeeded(r)) return [this.#path(n), r.stdout.trim()];
      }
      return undefined;
    };
    const dump = await find(['mariadb-dump', 'mysqldump']);
    const client = await find(['mariadb', 'mysql']);
    if (!dump || !client) {
      const missing = [!dump && 'mariadb-dump/mysqldump', !client && 'mariadb/mysql'].filter(Boolean).join(' and ');
      throw new SourceError(`${this.label}: ${missing} not found in ${this.#binDir ?? 'PATH'}`, {
        hint: 'install mariadb-client (or mysql-client), or set bin_dir to where the tools are',
      });
    }
    this.#tools = { dump: dump[0], client: client[0], dumpVersion: dump[1] };
    return this.#tools;
  }

  /** True when the dump tool is MySQL's mysqldump rather than MariaDB's. */
  isMysqlDump(): boolean {
    return this.#tools !== undefined && !/mariadb/i.test(this.#tools.dumpVersion);
  }

  spec(kind: MysqlToolKind, args: readonly string[], signal?: AbortSignal): RunSpec {
    if (this.#tools === undefined) throw new Error('MysqlClient used before resolveTools()');
    const env = this.#conn.password === undefined ? undefined : { MYSQL_PWD: this.#conn.password };
    const timeout = kind === 'client' && this.#conn.connectTimeoutMs !== undefined ? [`--connect-timeout=${Math.max(1, Math.ceil(this.#conn.connectTimeoutMs / 1000))}`] : [];
    return { command: this.#tools[kind], args: [...connectionArgs(this.#conn), ...timeout, ...args], env, signal };
  }

  /** The command as recorded in manifests: tool and options, without the connection. */
  describe(spec: RunSpec): string {
    return describeCommand({ command: spec.command.split('/').pop() ?? spec.command, args: spec.args.slice(connectionArgs(this.#conn).length) });
  }

  /** Runs SQL (on stdin) and returns the result rows, unescaped. */
  async query(sql: string, what: string, signal?: AbortSignal): Promise<string[][]> {
    const r = await collect(this.#runner, this.spec('client', ['--batch', '--skip-column-names'], signal), sql);
    if (!succeeded(r)) throw this.failure(what, r);
    return r.stdout.split('\n').filter((l) => l !== '').map(parseBatchLine);
  }

  /** A SourceError for a failed tool run: names the source, the host and what to do. */
  failure(what: string, fin: Finished, extra: LifeboatErrorOptions = {}): SourceError {
    const stderr = scrub(fin.stderr, this.#conn.password);
    const status = fin.signal !== null ? `killed by ${fin.signal}` : fin.code === 127 ? 'tool not found' : `exit ${fin.code}`;
    let hint = extra.hint;
    if (/access denied/i.test(stderr)) {
      hint ??= `check the user and password (connection.password in lifeboat.yml) and the grants of ${this.#conn.user}`;
    } else if (/can't connect|unknown (mysql|mariadb) server host|connection refused|reading initial communication packet/i.test(stderr)) {
      // The last: a server that accepted the connection and did not greet within timeouts.connect.
      hint ??= 'check that the server is running and reachable (connection.host/port/socket; timeouts.connect)';
    } else if (/lost connection|server has gone away/i.test(stderr)) {
      hint ??= 'the server went away during the run; check its logs and run again';
    }
    const text = stderr.split('\n').slice(-6).join(' | ');
    const message = `${this.label}: ${what} failed (${status})${text ? `: ${text}` : ''}${hint ? `; ${hint}` : ''}`;
    return new SourceError(message, { ...extra, hint, data: { ...extra.data, code: fin.code, signal: fin.signal } });
  }
}
