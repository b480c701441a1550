/**
 * Checking a stored mysql dump without a server, and naming drill databases.
 *
 * A dump made by this source is text with one statement start per line: the tool's header
 * ("-- MariaDB dump 10.19 ..." or "-- MySQL dump 10.13 ..."; MariaDB 11 puts a sandbox-mode
 * comment line before it), the CREATE DATABASE and USE lines of --databases, one CREATE TABLE
 * per table, INSERT lines, and the "-- Dump completed" trailer as the last line. String values
 * never span lines (the tools escape newlines as \n), so a line that starts with "CREATE TABLE"
 * is a statement. The scan keeps only the first bytes of each line, so a multi-megabyte INSERT
 * line costs nothing but the pass over its bytes.
 *
 * Drill databases are named `lifeboat_drill_<UTC yyyymmddThhmmss>_<db>`; a database name that is
 * not a plain identifier, or that would pass MySQL's 64 characters, is replaced by a sanitized
 * prefix plus a hash of the original.
 */
import { createHash } from 'node:crypto';
import { errorMessage } from '../../core/errors.ts';
import type { ArtifactReader } from '../../core/source.ts';
import { quoteIdent } from './mysql-client.ts';

/** How many bytes of each line the scan keeps: enough for every prefix it looks for. */
const PREFIX_BYTES = 256;
/** The header must appear within the first lines; a dump that starts otherwise is not ours. */
const HEADER_LINES = 5;
const MAX_IDENTIFIER_CHARS = 64;
const TRAILER = '-- Dump completed';

export interface VerifyLines {
  readonly checks: string[];
  readonly problems: string[];
}

/** "2026-11-22T04:12:05.123Z" → "20261122T041205". */
export function drillTimestamp(date: Date): string {
  return date.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, '');
}

/** `lifeboat_drill_<ts>_<db>`, made safe and short enough when `db` is not a plain name. */
export function drillDatabaseName(ts: string, db: string, maxChars = MAX_IDENTIFIER_CHARS): string {
  return workDatabaseName('drill', ts, db, maxChars);
}

/** `lifeboat_<purpose>_<ts>_<db>` (drill, restore), made safe and short as drill names are. */
export function workDatabaseName(purpose: string, ts: string, db: string, maxChars = MAX_IDENTIFIER_CHARS): string {
  const prefix = `lifeboat_${purpose}_${ts}_`;
  const plain = `${prefix}${db}`;
  if (/^[A-Za-z0-9_]+$/.test(db) && plain.length <= maxChars) return plain;
  const hash = createHash('sha256').update(db).digest('hex').slice(0, 8);
  const room = Math.max(0, maxChars - prefix.length - hash.length - 1);
  return `${prefix}${db.replace(/[^A-Za-z0-9_]/g, '_').slice(0, room)}_${hash}`;
}

/** Why a database name cannot be written on the left of a `to:` mapping, or undefined. */
export function mappingProblem(db: string): string | undefined {
  if (db.includes(',') || db.includes('=')) return 'contains "," or "="';
  if (db.trim() !== db) return 'starts or ends with white space';
  return undefined;
}

/**
 * Hands the first PREFIX_BYTES of every line to `onLine`, as latin1 text (one character per
 * byte, so a prefix cut inside a UTF-8 sequence still compares byte for byte).
 */
export class LinePrefixes {
  readonly #onLine: (prefix: string) => void;
  #current: Buffer[] = [];
  #kept = 0;
  #any = false;

  constructor(onLine: (prefix: string) => void) {
    this.#onLine = onLine;
  }

  push(chunk: Uint8Array): void {
    const b = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let pos = 0;
    while (pos < b.length) {
      const nl = b.indexOf(0x0a, pos);
      const end = nl < 0 ? b.length : nl;
      this.#any = true;
      if (this.#kept < PREFIX_BYTES && end > pos) {
        const piece = b.subarray(pos, Math.min(end, pos + PREFIX_BYTES - this.#kept));
        this.#current.push(Buffer.from(piece));
        this.#kept += piece.length;
      }
      if (nl < 0) return;
      this.#emit();
      pos = nl + 1;
    }
  }

  end(): void {
    if (this.#any) this.#emit();
  }

  #emit(): void {
    this.#onLine(Buffer.concat(this.#current).toString('latin1'));
    this.#current = [];
    this.#kept = 0;
    this.#any = false;
  }
}

const latin1 = (s: string): string => Buffer.from(s, 'utf8').toString('latin1');

/** Header, CREATE DATABASE line, statement counts and trailer of one `<db>.sql`. */
export async function verifyDump(reader: ArtifactReader, artifact: string, db: string): Promise<VerifyLines> {
  let lines = 0;
  let header: string | undefined;
  let createsDatabase = false;
  let tables = 0;
  let inserts = 0;
  let last = '';
  let bytes = 0;
  const createDb = `CREATE DATABASE /*!32312 IF NOT EXISTS*/ ${latin1(quoteIdent(db))}`;
  const scan = new LinePrefixes((line) => {
    lines++;
    if (lines <= HEADER_LINES && header === undefined && /^-- (MariaDB|MySQL) dump \d/.test(line)) header = line.trim();
    if (line.startsWith('CREATE TABLE ')) tables++;
    else if (line.startsWith('INSERT INTO ')) inserts++;
    else if (line.startsWith(createDb) && (line.length === createDb.length || ' ;'.includes(line[createDb.length]))) createsDatabase = true;
    if (line.trim() !== '') last = line;
  });
  try {
    for await (const chunk of reader.open(artifact)) {
      bytes += chunk.length;
      scan.push(chunk);
    }
    scan.end();
  } catch (err) {
    return { checks: [], problems: [`${artifact}: cannot be read: ${errorMessage(err)}`] };
  }
  const problems: string[] = [];
  if (bytes === 0) return { checks: [], problems: [`${artifact}: is empty`] };
  if (header === undefined) problems.push(`${artifact}: does not start with a mariadb-dump or mysqldump header: not a dump made by lifeboat`);
  if (!createsDatabase) problems.push(`${artifact}: has no CREATE DATABASE line for "${db}" (a --databases dump has one; restoring needs it)`);
  if (!last.startsWith(TRAILER)) problems.push(`${artifact}: does not end with the "${TRAILER}" trailer: it is truncated`);
  const checks = problems.length > 0 ? [] : [`${artifact}: ${header}; ${tables} CREATE TABLE and ${inserts} INSERT statements, ${bytes} bytes, ends with "${last.trim()}"`];
  return { checks, problems };
}
