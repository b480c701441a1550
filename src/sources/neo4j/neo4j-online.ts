/**
 * The online mode of the neo4j source: a logical export of a running database through Bolt,
 * for Community servers that must not stop. What it keeps: every node with its labels and
 * properties, every relationship with its type and properties, and the constraints and indexes
 * (their `createStatement`s, LOOKUP indexes aside: every database has its own). What it does not
 * keep: internal ids and element ids (new ones on restore), users and roles (the `system`
 * database), and a point in time: Neo4j reads are read-committed, so writes made during the
 * export may be half in it. The backup warns when the counts it exported differ from those it
 * read first.
 *
 * The artifact `<db>.graph.jsonl` is JSON lines in a fixed order, so an unchanged graph exports
 * the same bytes: a header, the schema statements sorted by name, the nodes ordered by id, the
 * relationships ordered by id, and a trailer with the counts, without which the file is
 * incomplete. Values are encoded by neo4j-values.ts.
 *
 * A restore loads into an empty database (or clears it first when `clear_before_restore` is
 * set): nodes in batches of UNWIND … CREATE per label set, carrying a temporary label and id
 * backed by a uniqueness constraint so relationships find their ends, relationships in batches
 * per type, then the temporary label, id and constraint are removed and the schema created.
 */
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { SourceError, errorMessage } from '../../core/errors.ts';
import type { ArtifactReader, ArtifactSink, SourceContext, VerifyResult } from '../../core/source.ts';
import type { BoltClient } from './neo4j-bolt.ts';
import { decodeProperties, encodeProperties, type Json } from './neo4j-values.ts';

export const GRAPH_SUFFIX = '.graph.jsonl';
const FORMAT = 'lifeboat-neo4j-graph';
const BATCH = 1000;
const CHUNK = 64 * 1024;
const IMPORT_LABEL = '__LifeboatImport';
const IMPORT_KEY = '__lifeboat_id';
const IMPORT_CONSTRAINT = 'lifeboat_import_id';

export interface GraphCounts {
  nodes: number;
  relationships: number;
  schema: number;
}

type Line =
  | { kind: 'header'; format: string; version: number; database: string }
  | { kind: 'schema'; statement: string }
  | { kind: 'node'; id: string; labels: string[]; props: Record<string, Json> }
  | { kind: 'rel'; id: string; type: string; start: string; end: string; props: Record<string, Json> }
  | { kind: 'end'; nodes: number; relationships: number; schema: number };

const quote = (name: string): string => `\`${name.replaceAll('`', '``')}\``;

/** The schema statements of a database, by name, without lookup indexes and lifeboat's own. */
export async function schemaStatements(bolt: BoltClient, db: string, signal: AbortSignal): Promise<Array<{ name: string; kind: 'CONSTRAINT' | 'INDEX'; statement: string }>> {
  const [constraints, indexes] = await bolt.run(db, [
    'SHOW CONSTRAINTS YIELD name, createStatement RETURN name, createStatement ORDER BY name',
    "SHOW INDEXES YIELD name, type, owningConstraint, createStatement WHERE owningConstraint IS NULL AND type <> 'LOOKUP' RETURN name, createStatement ORDER BY name",
  ], signal);
  return [
    ...constraints.map((r) => ({ name: String(r[0]), kind: 'CONSTRAINT' as const, statement: String(r[1]) })),
    ...indexes.map((r) => ({ name: String(r[0]), kind: 'INDEX' as const, statement: String(r[1]) })),
  ].filter((s) => s.name !== IMPORT_CONSTRAINT);
}

/** The export of one database as JSON-lines chunks; `counts` holds what was written once it ends. */
export async function* exportGraph(bolt: BoltClient, db: string, counts: GraphCounts, signal: AbortSignal): AsyncGenerator<Uint8Array> {
  let buf = '';
  const line = (l: Line): string => `${JSON.stringify(l)}\n`;
  buf += line({ kind: 'header', format: FORMAT, version: 1, database: db });
  for (const s of await schemaStatements(bolt, db, signal)) {
    buf += line({ kind: 'schema', statement: s.statement });
    counts.schema++;
  }
  for await (const r of bolt.stream(db, 'MATCH (n) RETURN id(n) AS id, labels(n) AS labels, properties(n) AS props ORDER BY id', signal)) {
    buf += line({ kind: 'node', id: String(r.id), labels: [...(r.labels as string[])].sort(), props: encodeProperties(r.props as Record<string, unknown>) });
    counts.nodes++;
    if (buf.length >= CHUNK) {
      yield Buffer.from(buf);
      buf = '';
    }
  }
  const rels = 'MATCH (a)-[r]->(b) RETURN id(r) AS id, type(r) AS type, id(a) AS s, id(b) AS e, properties(r) AS props ORDER BY id';
  for await (const r of bolt.stream(db, rels, signal)) {
    buf += line({ kind: 'rel', id: String(r.id), type: String(r.type), start: String(r.s), end: String(r.e), props: encodeProperties(r.props as Record<string, unknown>) });
    counts.relationships++;
    if (buf.length >= CHUNK) {
      yield Buffer.from(buf);
      buf = '';
    }
  }
  buf += line({ kind: 'end', nodes: counts.nodes, relationships: counts.relationships, schema: counts.schema });
  yield Buffer.from(buf);
}

/** The parsed lines of an artifact, one at a time. */
async function* lines(data: AsyncIterable<Uint8Array>, name: string): AsyncGenerator<Line> {
  let n = 0;
  for await (const text of createInterface({ input: Readable.from(data), crlfDelay: Infinity })) {
    n++;
    if (text === '') continue;
    try {
      yield JSON.parse(text) as Line;
    } catch {
      throw new SourceError(`${name}: line ${n} is not JSON`, { hint: 'the artifact is damaged; pick another snapshot' });
    }
  }
}

/** Reads an artifact through, checking header, order and trailer; what it holds. */
export async function checkGraph(data: AsyncIterable<Uint8Array>, name: string): Promise<GraphCounts> {
  const counts: GraphCounts = { nodes: 0, relationships: 0, schema: 0 };
  let first = true;
  let end: Line | undefined;
  for await (const l of lines(data, name)) {
    if (first && (l.kind !== 'header' || l.format !== FORMAT)) throw new SourceError(`${name}: not a lifeboat Neo4j graph export (no header)`, { hint: 'pick a snapshot of a neo4j source in online mode' });
    first = false;
    if (end !== undefined) throw new SourceError(`${name}: data after the trailer`, { hint: 'the artifact is damaged; pick another snapshot' });
    if (l.kind === 'node') counts.nodes++;
    else if (l.kind === 'rel') counts.relationships++;
    else if (l.kind === 'schema') counts.schema++;
    else if (l.kind === 'end') end = l;
  }
  if (end?.kind !== 'end') throw new SourceError(`${name}: incomplete (no trailer after ${counts.nodes} nodes and ${counts.relationships} relationships)`, { hint: 'the export was cut short; pick another snapshot' });
  if (end.nodes !== counts.nodes || end.relationships !== counts.relationships || end.schema !== counts.schema) {
    throw new SourceError(`${name}: the trailer counts ${end.nodes} nodes and ${end.relationships} relationships, the file holds ${counts.nodes} and ${counts.relationships}`, { hint: 'the artifact is damaged; pick another snapshot' });
  }
  return counts;
}

/** Empties a database: nodes and relationships in transactions of 10,000, then its schema. */
async function clearDatabase(bolt: BoltClient, db: string, signal: AbortSignal): Promise<void> {
  await bolt.autoCommit(db, 'MATCH (n) CALL { WITH n DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS', signal);
  for (const s of await schemaStatements(bolt, db, signal)) await bolt.autoCommit(db, `DROP ${s.kind} ${quote(s.name)} IF EXISTS`, signal);
}

export interface ImportOptions {
  readonly name: string;
  readonly clear: boolean;
  readonly what: string;
}

/** Loads an artifact into `db`; refuses a database that holds nodes unless `clear`. */
export async function importGraph(bolt: BoltClient, db: string, data: AsyncIterable<Uint8Array>, o: ImportOptions, ctx: SourceContext): Promise<GraphCounts> {
  const signal = ctx.signal;
  const [[[held]]] = await bolt.run(db, ['MATCH (n) RETURN count(n)'], signal);
  if (Number(held) > 0 && !o.clear) {
    throw new SourceError(`${o.what}: database ${db} holds ${Number(held)} nodes; an online restore loads only into an empty database`, {
      hint: 'empty it first, or set clear_before_restore: true to have the restore delete its nodes, relationships, constraints and indexes',
    });
  }
  if (Number(held) > 0) {
    ctx.log.info(`${o.what}: clearing database ${db} (${Number(held)} nodes) before the restore`);
    await clearDatabase(bolt, db, signal);
  }
  await bolt.autoCommit(db, `CREATE CONSTRAINT ${IMPORT_CONSTRAINT} IF NOT EXISTS FOR (n:${IMPORT_LABEL}) REQUIRE n.${IMPORT_KEY} IS UNIQUE`, signal);
  const counts: GraphCounts = { nodes: 0, relationships: 0, schema: 0 };
  const schema: string[] = [];
  const nodes = new Map<string, Array<{ i: string; p: Record<string, unknown> }>>();
  const rels = new Map<string, Array<{ s: string; e: string; p: Record<string, unknown> }>>();
  let pending = 0;
  const flush = async (): Promise<void> => {
    for (const [key, rows] of nodes) {
      const labels = (JSON.parse(key) as string[]).map((l) => `:${quote(l)}`).join('');
      await bolt.write(db, `UNWIND $rows AS r CREATE (n:${IMPORT_LABEL}${labels}) SET n = r.p, n.${IMPORT_KEY} = r.i`, { rows }, signal);
    }
    for (const [type, rows] of rels) {
      await bolt.write(db, `UNWIND $rows AS r MATCH (a:${IMPORT_LABEL} {${IMPORT_KEY}: r.s}) MATCH (b:${IMPORT_LABEL} {${IMPORT_KEY}: r.e}) CREATE (a)-[x:${quote(type)}]->(b) SET x = r.p`, { rows }, signal);
    }
    nodes.clear();
    rels.clear();
    pending = 0;
  };
  let ended = false;
  for await (const l of lines(data, o.name)) {
    if (l.kind === 'header' && l.format !== FORMAT) throw new SourceError(`${o.name}: not a lifeboat Neo4j graph export`, { hint: 'pick a snapshot of a neo4j source in online mode' });
    if (l.kind === 'schema') schema.push(l.statement);
    else if (l.kind === 'node') {
      const key = JSON.stringify(l.labels);
      if (!nodes.has(key)) nodes.set(key, []);
      nodes.get(key)!.push({ i: l.id, p: decodeProperties(l.props) });
      counts.nodes++;
      pending++;
    } else if (l.kind === 'rel') {
      if (nodes.size > 0) await flush(); // every end node exists before the first relationship
      if (!rels.has(l.type)) rels.set(l.type, []);
      rels.get(l.type)!.push({ s: l.start, e: l.end, p: decodeProperties(l.props) });
      counts.relationships++;
      pending++;
    } else if (l.kind === 'end') ended = true;
    if (pending >= BATCH) await flush();
  }
  await flush();
  if (!ended) throw new SourceError(`${o.what}: ${o.name} is incomplete (no trailer); database ${db} holds a partial graph`, { hint: 'restore another snapshot with clear_before_restore: true' });
  await bolt.autoCommit(db, `MATCH (n:${IMPORT_LABEL}) CALL { WITH n REMOVE n:${IMPORT_LABEL} REMOVE n.${IMPORT_KEY} } IN TRANSACTIONS OF 10000 ROWS`, signal);
  await bolt.autoCommit(db, `DROP CONSTRAINT ${IMPORT_CONSTRAINT} IF EXISTS`, signal);
  for (const st of schema) {
    try {
      await bolt.autoCommit(db, st, signal);
      counts.schema++;
    } catch (err) {
      // An empty database may already have an equivalent constraint or index: that one is kept.
      if (!/EquivalentSchemaRuleAlreadyExists/.test(String((err as Error).message))) throw err;
    }
  }
  return counts;
}

/** Exports each database into `<db>.graph.jsonl`; warns when the counts exported differ from `counted` (read just before). */
export async function backupGraphs(bolt: BoltClient, sink: ArtifactSink, ctx: SourceContext,
  o: { what: string; databases: readonly string[]; counted: Readonly<Record<string, { nodes: number; relationships: number }>> }): Promise<void> {
  for (const db of o.databases) {
    const counts: GraphCounts = { nodes: 0, relationships: 0, schema: 0 };
    await sink.put(`${db}${GRAPH_SUFFIX}`, exportGraph(bolt, db, counts, ctx.signal));
    const seen = o.counted[db];
    if (counts.nodes !== seen.nodes || counts.relationships !== seen.relationships) {
      ctx.log.warn(`${o.what}: database ${db} changed during the online export (counted ${seen.nodes} nodes and ${seen.relationships} relationships, exported ${counts.nodes} and ${counts.relationships}); an online export is not a point in time: stop the writers, or use the offline mode`);
    }
    ctx.log.info(`${o.what}: exported database ${db}: ${counts.nodes} nodes, ${counts.relationships} relationships, ${counts.schema} constraints and indexes`);
  }
}

/** Loads every `<db>.graph.jsonl` of the snapshot into its database. */
export async function restoreGraphs(bolt: BoltClient, reader: ArtifactReader, ctx: SourceContext, o: { what: string; clear: boolean }): Promise<void> {
  const graphs = reader.list().map((a) => a.name).filter((n) => n.endsWith(GRAPH_SUFFIX)).sort();
  if (graphs.length === 0) throw new SourceError(`${o.what}: the snapshot holds no ${GRAPH_SUFFIX} export`, { hint: 'pick a snapshot of this neo4j source made in online mode' });
  for (const name of graphs) {
    const db = name.slice(0, -GRAPH_SUFFIX.length);
    const counts = await importGraph(bolt, db, reader.open(name), { name, clear: o.clear, what: o.what }, ctx);
    ctx.log.info(`${o.what}: loaded database ${db}: ${counts.nodes} nodes, ${counts.relationships} relationships, ${counts.schema} constraints and indexes`);
  }
}

/** Each database's export read through: header, trailer, counts (no server needed). */
export async function verifyGraphs(reader: ArtifactReader, databases: readonly string[]): Promise<VerifyResult> {
  const checks: string[] = [];
  const problems: string[] = [];
  const names = new Set(reader.list().map((a) => a.name));
  for (const db of databases) {
    const name = `${db}${GRAPH_SUFFIX}`;
    if (!names.has(name)) {
      problems.push(`${name}: missing from the snapshot`);
      continue;
    }
    try {
      const c = await checkGraph(reader.open(name), name);
      checks.push(`${name}: ${c.nodes} nodes, ${c.relationships} relationships, ${c.schema} constraints and indexes, complete`);
    } catch (err) {
      problems.push(errorMessage(err));
    }
  }
  return { checks, problems };
}
