/**
 * Checking a stored postgres backup without a server, and naming drill databases.
 *
 * An archive is streamed once into two pg_restore processes at the same time: `--list` prints
 * the table of contents (it reads the header and TOC, then stops reading, which the feed
 * tolerates), and `--file=/dev/null` converts every entry to SQL and throws it away, so it
 * reads every data block to the end. The TOC alone sits at the start of the archive: a dump cut
 * off in its table data lists fine, only the full read notices. Both must exit 0.
 *
 * TOC lines look like `3347; 0 16386 TABLE DATA public Mixed Case postgres`: dump id, catalog
 * oid, object oid, then type, schema, name and owner separated by spaces that names may also
 * contain. So entries are classified by their catalog oid and type prefix only (a TABLE is a
 * pg_class row, 1259; its TABLE DATA entry carries catalog oid 0 and the same object oid), and
 * names are never split out.
 *
 * Drill databases are named `lifeboat_drill_<UTC yyyymmddThhmmss>_<db>`; a database name that is
 * not a plain identifier, or that would push the name past PostgreSQL's 63 bytes, is replaced by
 * a sanitized prefix plus a hash of the original, so the name stays unique per database.
 */
import { createHash } from 'node:crypto';
import type { CommandRunner, RunningCommand } from '../../core/command-runner.ts';
import { errorMessage } from '../../core/errors.ts';
import type { ArtifactReader } from '../../core/source.ts';
import type { PgClient } from './postgres-client.ts';
import { succeeded, write } from '../process-kit.ts';
import type { Finished } from '../process-kit.ts';

/** The line pg_dumpall writes last; a globals.sql without it was cut off. */
export const GLOBALS_TRAILER = 'PostgreSQL database cluster dump complete';
/** PostgreSQL truncates identifiers longer than this (NAMEDATALEN - 1), in bytes. */
const MAX_IDENTIFIER_BYTES = 63;
const PG_CLASS_OID = '1259';

export interface VerifyLines {
  readonly checks: string[];
  readonly problems: string[];
}

/** "2026-11-22T04:12:05.123Z" → "20261122T041205". */
export function drillTimestamp(date: Date): string {
  return date.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, '');
}

/** `lifeboat_drill_<ts>_<db>`, made safe and short enough when `db` is not a plain name. */
export function drillDatabaseName(ts: string, db: string, maxBytes = MAX_IDENTIFIER_BYTES): string {
  return workDatabaseName('drill', ts, db, maxBytes);
}

/** `lifeboat_<purpose>_<ts>_<db>` (drill, restore, old), made safe and short as drill names are. */
export function workDatabaseName(purpose: string, ts: string, db: string, maxBytes = MAX_IDENTIFIER_BYTES): string {
  const prefix = `lifeboat_${purpose}_${ts}_`;
  const plain = `${prefix}${db}`;
  if (/^[A-Za-z0-9_]+$/.test(db) && plain.length <= maxBytes) return plain;
  const hash = createHash('sha256').update(db).digest('hex').slice(0, 8);
  const room = Math.max(0, maxBytes - prefix.length - hash.length - 1);
  return `${prefix}${db.replace(/[^A-Za-z0-9_]/g, '_').slice(0, room)}_${hash}`;
}

/** Why a database name cannot be written on the left of a `to:` mapping, or undefined. */
export function mappingProblem(db: string): string | undefined {
  if (db.includes(',') || db.includes('=')) return 'contains "," or "="';
  if (db.trim() !== db) return 'starts or ends with white space';
  return undefined;
}

export interface TocSummary {
  /** The database the archive was dumped from (header line "dbname: ..."). */
  readonly dbname?: string;
  /** "CUSTOM" for pg_dump --format=custom. */
  readonly format?: string;
  /** Entries the header announces (includes ones --list does not show, such as ENCODING). */
  readonly declared?: number;
  /** Entry lines listed. */
  readonly entries: number;
  readonly tables: number;
  /** Tables that have a TABLE DATA entry (partitioned parents have none: their partitions do). */
  readonly tablesWithData: number;
  readonly tableData: number;
}

export function parseToc(text: string): TocSummary {
  let dbname: string | undefined;
  let format: string | undefined;
  let declared: number | undefined;
  let entries = 0;
  const tables = new Set<string>();
  const withData = new Set<string>();
  for (const line of text.split('\n')) {
    if (line.startsWith(';')) {
      const m = /^;\s+([A-Za-z ]+):\s?(.*)$/.exec(line);
      if (m?.[1] === 'dbname') dbname = m[2];
      else if (m?.[1] === 'Format') format = m[2].trim();
      else if (m?.[1] === 'TOC Entries') declared = Number(m[2]);
      continue;
    }
    const e = /^\d+; (\d+) (\d+) (.*)$/.exec(line);
    if (!e) continue;
    entries++;
    const [, catalog, oid, rest] = e;
    if (catalog === PG_CLASS_OID && rest.startsWith('TABLE ')) tables.add(oid);
    else if (catalog === '0' && rest.startsWith('TABLE DATA ')) withData.add(oid);
  }
  const tablesWithData = [...tables].filter((oid) => withData.has(oid)).length;
  return { dbname, format, declared, entries, tables: tables.size, tablesWithData, tableData: withData.size };
}

/**
 * Feeds one stream into several children at once, at the pace of the slowest. A child that
 * closes its stdin is dropped (pg_restore --list stops after the TOC); reading goes on for the
 * others. Rejects when reading the input fails, after killing every child.
 */
export async function feedAll(cmds: readonly RunningCommand[], input: AsyncIterable<Uint8Array>): Promise<void> {
  let live = [...cmds];
  try {
    for await (const chunk of input) {
      if (live.length === 0) break;
      const open = await Promise.all(live.map((c) => write(c.stdin, chunk)));
      live = live.filter((_, i) => open[i]);
    }
  } catch (err) {
    for (const c of cmds) c.kill('SIGKILL');
    throw err;
  }
  for (const c of live) c.stdin.end();
}

function status(fin: Finished): string {
  return fin.signal !== null ? `killed by ${fin.signal}` : `exit ${fin.code}`;
}

function stderrTail(fin: Finished): string {
  const text = fin.stderr.trim();
  return text === '' ? '' : `: ${text.split('\n').slice(-4).join(' | ')}`;
}

/**
 * pg_restore --list and a full read of one archive (see the file comment). `db` is the
 * database the artifact name says it holds; the TOC header must agree.
 */
export async function verifyArchive(
  client: PgClient, runner: CommandRunner, reader: ArtifactReader, artifact: string, db: string, signal: AbortSignal,
): Promise<VerifyLines> {
  const checks: string[] = [];
  const problems: string[] = [];
  const list = runner.start(client.spec('pg_restore', ['--list'], signal));
  const full = runner.start(client.spec('pg_restore', ['--file=/dev/null'], signal));
  const listed: Buffer[] = [];
  list.stdout.on('data', (c: Buffer) => void listed.push(c));
  full.stdout.resume();
  let bytes = 0;
  async function* counted(): AsyncGenerator<Uint8Array> {
    for await (const chunk of reader.open(artifact)) {
      bytes += chunk.length;
      yield chunk;
    }
  }
  try {
    await feedAll([list, full], counted());
  } catch (err) {
    await Promise.all([list.done, full.done]);
    problems.push(`${artifact}: cannot be read: ${errorMessage(err)}`);
    return { checks, problems };
  }
  const [lf, ff] = await Promise.all([list.done, full.done]);
  if (lf.code === 127 && lf.signal === null) {
    problems.push(`${artifact}: not checked: ${client.tool('pg_restore')} cannot be run; install postgresql-client or set bin_dir`);
    return { checks, problems };
  }
  if (!succeeded(lf)) {
    problems.push(`${artifact}: pg_restore --list cannot read its table of contents (${status(lf)})${stderrTail(lf)}`);
    return { checks, problems };
  }
  const toc = parseToc(Buffer.concat(listed).toString('utf8'));
  if (toc.format === undefined || toc.declared === undefined) {
    problems.push(`${artifact}: pg_restore --list printed no archive header`);
  } else {
    if (toc.format !== 'CUSTOM') problems.push(`${artifact}: archive format is ${toc.format}, lifeboat writes CUSTOM`);
    if (toc.dbname !== db) problems.push(`${artifact}: the archive was dumped from database "${toc.dbname ?? '?'}", not "${db}"`);
    checks.push(
      `pg_restore --list: ${toc.entries} entries in ${artifact}: ${toc.tables} tables, ${toc.tablesWithData} with a TABLE DATA entry` +
        (toc.tables === 0 ? ' (no tables: an empty database)' : ''),
    );
  }
  if (succeeded(ff)) checks.push(`pg_restore read all of ${artifact} (${bytes} bytes, data of ${toc.tableData} tables)`);
  else problems.push(`${artifact}: pg_restore cannot read it to its end (${status(ff)})${stderrTail(ff)}; the archive is truncated or damaged`);
  return { checks, problems };
}

/** globals.sql: present, not empty, and ending with pg_dumpall's completion comment. */
export async function verifyGlobals(reader: ArtifactReader, artifact: string): Promise<VerifyLines> {
  let bytes = 0;
  let tail = Buffer.alloc(0);
  try {
    for await (const chunk of reader.open(artifact)) {
      bytes += chunk.length;
      tail = Buffer.concat([tail, chunk]).subarray(-512);
    }
  } catch (err) {
    return { checks: [], problems: [`${artifact}: cannot be read: ${errorMessage(err)}`] };
  }
  if (bytes === 0) return { checks: [], problems: [`${artifact}: is empty`] };
  if (!tail.toString('utf8').includes(GLOBALS_TRAILER)) {
    return { checks: [], problems: [`${artifact}: does not end with pg_dumpall's "${GLOBALS_TRAILER}": it is truncated`] };
  }
  return { checks: [`${artifact}: ${bytes} bytes, ends with pg_dumpall's "${GLOBALS_TRAILER}"`], problems: [] };
}
