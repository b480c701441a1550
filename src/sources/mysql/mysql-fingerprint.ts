/**
 * The fingerprint of one MySQL/MariaDB database: the exact row count of every base table
 * (SELECT COUNT(*), inside one consistent-snapshot transaction) and a hash of a listing of
 * its schema from information_schema: tables, columns (position, type, nullability, default,
 * collation), indexes, constraints, foreign keys, views, routines, triggers and events.
 *
 * Views are stored with every column qualified by the database name; that qualifier is cut
 * out so that a copy restored under another name has the same fingerprint. The listing is
 * sorted in JavaScript, so the server's collation does not decide the order.
 */
import { createHash } from 'node:crypto';
import { quoteIdent, quoteLiteral } from './mysql-client.ts';

export interface DatabaseFingerprint {
  /** Table name → exact row count. */
  readonly tables: Record<string, number>;
  /** sha256 of the sorted schema listing. */
  readonly schema: string;
  readonly objects: number;
}

/** One query script listing ('table', name) rows and ('line', schema line) rows. */
export function schemaSql(db: string): string {
  const d = quoteLiteral(db);
  const qualifier = quoteLiteral(`${quoteIdent(db)}.`);
  return `
SELECT 'table', TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ${d} AND TABLE_TYPE = 'BASE TABLE';
SELECT 'line', CONCAT_WS(' ', 'rel', TABLE_TYPE, TABLE_NAME, IFNULL(ENGINE, '-'), IFNULL(TABLE_COLLATION, '-'))
  FROM information_schema.TABLES WHERE TABLE_SCHEMA = ${d};
SELECT 'line', CONCAT_WS(' ', 'col', TABLE_NAME, ORDINAL_POSITION, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE,
    IFNULL(COLUMN_DEFAULT, '(none)'), EXTRA, IFNULL(COLLATION_NAME, '-'))
  FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ${d};
SELECT 'line', CONCAT_WS(' ', 'idx', TABLE_NAME, INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, IFNULL(COLUMN_NAME, '-'), IFNULL(SUB_PART, '-'), INDEX_TYPE)
  FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ${d};
SELECT 'line', CONCAT_WS(' ', 'con', TABLE_NAME, CONSTRAINT_NAME, CONSTRAINT_TYPE)
  FROM information_schema.TABLE_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = ${d};
SELECT 'line', CONCAT_WS(' ', 'fk', TABLE_NAME, CONSTRAINT_NAME, COLUMN_NAME, IF(REFERENCED_TABLE_SCHEMA = ${d}, '.', REFERENCED_TABLE_SCHEMA),
    REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME)
  FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = ${d} AND REFERENCED_TABLE_NAME IS NOT NULL;
SELECT 'line', CONCAT_WS(' ', 'view', TABLE_NAME, MD5(REPLACE(VIEW_DEFINITION, ${qualifier}, '')))
  FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ${d};
SELECT 'line', CONCAT_WS(' ', 'routine', ROUTINE_TYPE, ROUTINE_NAME, MD5(IFNULL(ROUTINE_DEFINITION, '')))
  FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ${d};
SELECT 'line', CONCAT_WS(' ', 'trigger', TRIGGER_NAME, EVENT_MANIPULATION, EVENT_OBJECT_TABLE, ACTION_TIMING, MD5(ACTION_STATEMENT))
  FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ${d};
SELECT 'line', CONCAT_WS(' ', 'event', EVENT_NAME, MD5(EVENT_DEFINITION))
  FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ${d};
`;
}

/** COUNT(*) of each table, in order, inside one consistent snapshot. */
export function countSql(db: string, tables: readonly string[]): string {
  const counts = tables.map((t) => `SELECT COUNT(*) FROM ${quoteIdent(db)}.${quoteIdent(t)};`).join('\n');
  return `SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ;\nSTART TRANSACTION WITH CONSISTENT SNAPSHOT;\n${counts}\nCOMMIT;\n`;
}

export function toDatabaseFingerprint(tables: readonly string[], counts: readonly string[], lines: readonly string[]): DatabaseFingerprint {
  const byName: Record<string, number> = {};
  const order = tables.map((t, i) => [t, i] as const).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (const [t, i] of order) byName[t] = Number(counts[i]);
  const sorted = [...lines].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return { tables: byName, schema: createHash('sha256').update(sorted.join('\n')).digest('hex'), objects: sorted.length };
}
