/**
 * The fingerprint of one PostgreSQL database: the exact row count of every user table and a
 * hash of a normalized listing of its schema (relations, columns with position and type,
 * constraints, indexes, views, triggers, functions, schemas, extensions). The same query runs
 * at backup (inside the dump's exported snapshot, so both see the same data) and after a
 * restore; what pg_dump leaves out (extension members, exclude_tables) is left out here too.
 *
 * The listing is sorted in JavaScript, not with ORDER BY, so the server's collation cannot
 * change the order. Column positions are counted over live columns: a restore renumbers
 * attnum (dropped columns leave gaps in the original), so attnum itself is not compared.
 */
import { createHash } from 'node:crypto';

export interface DatabaseFingerprint {
  /** "schema.table" (quoted where SQL would need quotes) → exact row count. */
  readonly tables: Record<string, number>;
  /** sha256 of the sorted schema listing. */
  readonly schema: string;
  /** Number of lines in the listing (a quick hint of what changed when the hash differs). */
  readonly objects: number;
}

/** Regex metacharacters of PostgreSQL's ARE flavour that a literal must escape. */
const escapeRe = (c: string): string => (/[\\^$.|?*+()[\]{}]/.test(c) ? `\\${c}` : c);

/**
 * A pg_dump table pattern as anchored regexes for schema and name: * and ? are wildcards,
 * unquoted letters fold to lower case, "Quoted" parts are literal, a dot separates the schema.
 */
export function tablePattern(pattern: string): { s: string; t: string } {
  const parts: string[] = [''];
  let quoted = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (quoted) {
      if (c === '"' && pattern[i + 1] === '"') {
        parts[parts.length - 1] += '"';
        i++;
      } else if (c === '"') quoted = false;
      else parts[parts.length - 1] += escapeRe(c);
    } else if (c === '"') quoted = true;
    else if (c === '.') parts.push('');
    else if (c === '*') parts[parts.length - 1] += '.*';
    else if (c === '?') parts[parts.length - 1] += '.';
    else parts[parts.length - 1] += escapeRe(c.toLowerCase());
  }
  const t = parts[parts.length - 1];
  const s = parts.length > 1 ? parts[parts.length - 2] : '.*';
  return { s: `^(${s})$`, t: `^(${t})$` };
}

/**
 * SQL returning one JSON object {counts, schema}. psql variable :'excl' holds the exclude
 * patterns as JSON; with `snapshot`, the transaction imports the backup's exported snapshot.
 */
export function fingerprintSql(snapshot: boolean): string {
  return `
BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;
${snapshot ? "SET TRANSACTION SNAPSHOT :'snapshot';" : ''}
WITH excl AS (
  SELECT e->>'s' AS s, e->>'t' AS t FROM json_array_elements(:'excl'::json) e
), rel AS (
  SELECT c.oid, c.relkind, format('%I.%I', n.nspname, c.relname) AS q, n.nspname, c.relname
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
    AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp_)'
    AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
    AND NOT EXISTS (SELECT 1 FROM excl WHERE n.nspname ~ excl.s AND c.relname ~ excl.t)
), lines AS (
  SELECT format('rel %s %s', relkind, q) AS l FROM rel
  UNION ALL
  SELECT format('col %s %s %I %s%s%s', r.q, row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum), a.attname,
                format_type(a.atttypid, a.atttypmod), CASE WHEN a.attnotnull THEN ' not null' ELSE '' END,
                coalesce(' default ' || pg_get_expr(ad.adbin, ad.adrelid), ''))
  FROM rel r JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
  UNION ALL
  SELECT format('con %s %I %s', r.q, co.conname, pg_get_constraintdef(co.oid))
  FROM rel r JOIN pg_constraint co ON co.conrelid = r.oid
  UNION ALL
  SELECT format('idx %s', pg_get_indexdef(i.indexrelid)) FROM rel r JOIN pg_index i ON i.indrelid = r.oid
  UNION ALL
  SELECT format('view %s %s', q, pg_get_viewdef(oid)) FROM rel WHERE relkind IN ('v', 'm')
  UNION ALL
  SELECT format('seq %s %s', r.q, format_type(s.seqtypid, NULL)) FROM rel r JOIN pg_sequence s ON s.seqrelid = r.oid
  UNION ALL
  SELECT format('trg %s', pg_get_triggerdef(t.oid)) FROM rel r JOIN pg_trigger t ON t.tgrelid = r.oid AND NOT t.tgisinternal
  UNION ALL
  SELECT format('fn %I.%I(%s) %s', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid), md5(pg_get_functiondef(p.oid)))
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
  WHERE p.prokind IN ('f', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp_)'
    AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
  UNION ALL
  SELECT format('schema %I', nspname) FROM pg_namespace
  WHERE nspname NOT IN ('pg_catalog', 'information_schema') AND nspname !~ '^pg_(toast|temp_)'
    AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_namespace'::regclass AND d.objid = oid AND d.deptype = 'e')
  UNION ALL
  SELECT format('ext %I', extname) FROM pg_extension
)
SELECT json_build_object(
  'counts', (SELECT json_object_agg(q, (xpath('/row/n/text()',
               query_to_xml(format('SELECT count(*) AS n FROM %I.%I', nspname, relname), false, true, '')))[1]::text::bigint)
             FROM rel WHERE relkind IN ('r', 'p')),
  'schema', (SELECT json_agg(l) FROM lines)
);
COMMIT;
`;
}

/** Turns the query's JSON into the fingerprint: counts with sorted keys, the listing hashed. */
export function toDatabaseFingerprint(raw: { counts: Record<string, number> | null; schema: string[] | null }): DatabaseFingerprint {
  const counts = raw.counts ?? {};
  const tables: Record<string, number> = {};
  for (const k of Object.keys(counts).sort()) tables[k] = Number(counts[k]);
  const lines = [...(raw.schema ?? [])].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const schema = createHash('sha256').update(lines.join('\n')).digest('hex');
  return { tables, schema, objects: lines.length };
}
