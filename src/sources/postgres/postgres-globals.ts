/**
 * Replaying globals.sql (pg_dumpall --globals-only) into a server that already has roles.
 *
 * pg_dumpall writes one statement per line for roles and tablespaces ("CREATE ROLE x;",
 * "ALTER ROLE x WITH ... PASSWORD '...';", "CREATE TABLESPACE x OWNER y LOCATION '...';").
 * Replayed as is, CREATE ROLE of an existing role is an error, so instead of tolerating errors
 * (and missing real ones) the stream is filtered line by line before psql sees it, and psql
 * runs with ON_ERROR_STOP:
 * - CREATE ROLE / CREATE TABLESPACE of an object that exists are dropped;
 * - ALTER ROLE ... WITH of the role lifeboat is connected as is dropped: replaying it would
 *   reset that role's password to the one at backup time and lock out the rest of the restore;
 * - when restoring into another database (`to`), ALTER ROLE lines of roles that already exist
 *   are dropped too, so a copy restored next to production never changes production's roles.
 */

export interface GlobalsContext {
  /** Existing role names, as quote_ident prints them (pg_dumpall quotes the same way). */
  readonly roles: ReadonlySet<string>;
  readonly tablespaces: ReadonlySet<string>;
  /** quote_ident(current_user). */
  readonly currentUser: string;
  /** Leave existing roles exactly as they are (restore into another database). */
  readonly keepExistingRoles: boolean;
}

const IDENT = String.raw`("(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)`;
const CREATE_ROLE = new RegExp(`^CREATE ROLE ${IDENT};$`);
const ALTER_ROLE = new RegExp(`^ALTER ROLE ${IDENT} (WITH|SET|RESET|IN) `);
const CREATE_TABLESPACE = new RegExp(`^CREATE TABLESPACE ${IDENT} `);

/** Whether one line of globals.sql is kept; dropped lines become a comment saying why. */
export function globalsLine(line: string, ctx: GlobalsContext): string {
  let m = CREATE_ROLE.exec(line);
  if (m && ctx.roles.has(m[1])) return `-- lifeboat: role ${m[1]} exists, not created`;
  m = ALTER_ROLE.exec(line);
  if (m) {
    if (m[1] === ctx.currentUser && m[2] === 'WITH') return `-- lifeboat: attributes of the connected role ${m[1]} left unchanged`;
    if (ctx.keepExistingRoles && ctx.roles.has(m[1])) return `-- lifeboat: existing role ${m[1]} left unchanged`;
  }
  m = CREATE_TABLESPACE.exec(line);
  if (m && ctx.tablespaces.has(m[1])) return `-- lifeboat: tablespace ${m[1]} exists, not created`;
  return line;
}

/** Streams globals.sql through globalsLine. */
export async function* filterGlobals(input: AsyncIterable<Uint8Array>, ctx: GlobalsContext): AsyncGenerator<Uint8Array> {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let pending = '';
  for await (const chunk of input) {
    pending += decoder.decode(chunk, { stream: true });
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    if (lines.length > 0) yield Buffer.from(lines.map((l) => globalsLine(l, ctx)).join('\n') + '\n');
  }
  pending += decoder.decode();
  if (pending !== '') yield Buffer.from(globalsLine(pending, ctx));
}
