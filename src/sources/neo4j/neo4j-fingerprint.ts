/**
 * Fingerprint of a Neo4j database: node counts per label and relationship counts per type, each
 * a lone `count()` so Neo4j answers it from its count store in constant time (not by a scan),
 * plus the totals. The `system` database holds users, roles and the database list, which Cypher
 * outside Enterprise cannot enumerate the same way; it is dumped but not fingerprinted.
 */

/** What the fingerprint needs: statements in one transaction, each statement's rows (HTTP or Bolt). */
export interface CypherRunner {
  run(database: string, statements: readonly string[], signal: AbortSignal): Promise<unknown[][][]>;
}

export interface Neo4jDatabaseFingerprint {
  readonly nodes: number;
  readonly relationships: number;
  readonly labels: Readonly<Record<string, number>>;
  readonly types: Readonly<Record<string, number>>;
}

const quote = (name: string): string => `\`${name.replaceAll('`', '``')}\``;

export async function fingerprintDatabase(client: CypherRunner, database: string, signal: AbortSignal): Promise<Neo4jDatabaseFingerprint> {
  const [labelRows, typeRows, [[nodes]], [[relationships]]] = await client.run(database, [
    'CALL db.labels() YIELD label RETURN label ORDER BY label',
    'CALL db.relationshipTypes() YIELD relationshipType RETURN relationshipType ORDER BY relationshipType',
    'MATCH (n) RETURN count(n)',
    'MATCH ()-[r]->() RETURN count(r)',
  ], signal);
  const labels = labelRows.map((r) => String(r[0]));
  const types = typeRows.map((r) => String(r[0]));
  const counts = await client.run(database, [
    ...labels.map((l) => `MATCH (n:${quote(l)}) RETURN count(n)`),
    ...types.map((t) => `MATCH ()-[r:${quote(t)}]->() RETURN count(r)`),
  ], signal);
  const n = (i: number): number => Number(counts[i][0][0]);
  return {
    nodes: Number(nodes),
    relationships: Number(relationships),
    // db.labels() may still list a label no node carries any more; a zero count says nothing.
    labels: Object.fromEntries(labels.map((l, i) => [l, n(i)] as const).filter(([, c]) => c > 0)),
    types: Object.fromEntries(types.map((t, i) => [t, n(labels.length + i)] as const).filter(([, c]) => c > 0)),
  };
}
