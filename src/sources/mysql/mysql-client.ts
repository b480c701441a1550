/**
 * The narrow MySQL/MariaDB client the mysql source needs: which dump and client tools exist
 * (MariaDB's mariadb-dump/mariadb, else mysqldump/mysql), a private option file carrying the
 * connection, batch-mode queries, and the error shape every failure takes.
 *
 * The password never goes into argv or the environment: every tool gets
 * --defaults-extra-file=<0600 file in the source's temp dir> as its first argument, so argv
 * shows a path, not the secret (MYSQL_PWD would also work, but MySQL 8 deprecates it and it is
 * visible in /proc/<pid>/environ to the same user). The file is removed when the operation ends.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
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

/**
 * A value in an option file: double-quoted, with the escapes the option-file reader knows
 * (\\ \n \r \t); everything else, quotes and "#" included, is literal inside the quotes.
 */
export function optionValue(value: string): string {
  const escaped = value.replaceAll('\\', '\\\\').replaceAll('\n', '\\n').replaceAll('\r', '\\r').replaceAll('\t', '\\t');
  return `"${escaped}"`;
}

/** The [client] group all MySQL/MariaDB tools read: connection and password. */
export function optionFileText(conn: MysqlConnection): string {
  const lines = ['[client]', `user=${optionValue(conn.user)}`];
  if (conn.socket !== undefined) {
    lines.push(`socket=${optionValue(conn.socket)}`, 'protocol=socket');
  } else {
    lines.push(`host=${optionValue(conn.host)}`, `port=${conn.port}`, 'protocol=tcp');
  }
  if (conn.password !== undefined) lines.push(`password=${optionValue(conn.password)}`);
  return `${lines.join('\n')}\n`;
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
  #optionDir: string | undefined;
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

  /** Writes the option file (0600 in a fresh 0700 dir); call close() when done. */
  async open(tmpDir: string): Promise<void> {
    this.#optionDir = await mkdtemp(join(tmpDir, 'mysql-'));
    await writeFile(join(this.#optionDir, 'client.cnf'), optionFileText(this.#conn), { mode: 0o600 });
  }

  async close(): Promise<void> {
    if (this.#optionDir !== undefined) await rm(this.#optionDir, { recursive: true, force: true });
    this.#optionDir = undefined;
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
    if (this.#optionDir === undefined || this.#tools === undefined) throw new Error('MysqlClient used before open() and resolveTools()');
    // The option file must be the first argument, or the tools ignore it.
    const timeout = kind === 'client' && this.#conn.connectTimeoutMs !== undefined ? [`--connect-timeout=${Math.max(1, Math.ceil(this.#conn.connectTimeoutMs / 1000))}`] : [];
    return { command: this.#tools[kind], args: [`--defaults-extra-file=${join(this.#optionDir, 'client.cnf')}`, ...timeout, ...args], signal };
  }

  /** The command as recorded in manifests: the option file's temp path is not interesting. */
  describe(spec: RunSpec): string {
    return describeCommand({ command: spec.command.split('/').pop() ?? spec.command, args: ['--defaults-extra-file=client.cnf', ...spec.args.slice(1)] });
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
