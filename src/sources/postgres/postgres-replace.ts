/**
 * Replacing a database whole, the way runbooks restore PostgreSQL: the archive is loaded into a
 * fresh database beside the live one, checked, and only then swapped in by renaming.
 *
 * pg_restore --clean drops only the objects the archive knows, so a table created after the
 * snapshot would survive an in-place restore; a fresh database holds exactly the snapshot. The
 * database itself (encoding, locale, owner, settings, grants, comment) is described by the
 * archive's DATABASE entries, which pg_restore prints only with --create and always under the
 * original name. databaseSql() selects those entries and renames the database in them, so the
 * fresh database is created as the snapshot's was, under a name of lifeboat's choosing.
 *
 * The swap (SWAP_SQL) terminates the live database's sessions and renames live → old and
 * fresh → live in one transaction: either both renames happen or neither, and a failure leaves
 * the live database as it was.
 */
import type { CommandRunner } from '../../core/command-runner.ts';
import { SourceError, errorMessage } from '../../core/errors.ts';
import type { ArtifactReader } from '../../core/source.ts';
import { collect, stageFile, succeeded } from '../process-kit.ts';
import { quoteIdent } from './postgres-client.ts';
import type { PgClient } from './postgres-client.ts';

/** TOC lines of the archive's DATABASE entries (shown by `pg_restore --create --list`). */
const DATABASE_ENTRY = /^\d+; \d+ \d+ (DATABASE |DATABASE PROPERTIES |COMMENT - DATABASE |ACL - DATABASE |SECURITY LABEL - DATABASE )/;

/** The lines of a `pg_restore --create --list` output that describe the database itself. */
export function databaseEntries(toc: string): string[] {
  return toc.split('\n').filter((l) => DATABASE_ENTRY.test(l));
}

/** Statements of the DATABASE entries; other lines are continuation lines of a string. */
const STATEMENT = /^(CREATE DATABASE|ALTER DATABASE|ALTER ROLE|COMMENT ON DATABASE|GRANT|REVOKE|SECURITY LABEL)\b/;

/**
 * The SQL pg_restore printed for the DATABASE entries, made to describe database `to` instead of
 * `from`: `DATABASE <from>` becomes `DATABASE "<to>"` in every statement, and psql's \connect
 * lines go (each statement works from any database). pg_dump writes the name quoted only when
 * it must, so both spellings are matched. Without superuser rights the owner and per-role
 * settings are left out, as pg_restore --no-owner does for the objects inside.
 */
export function renameDatabaseSql(sql: string, from: string, to: string, opts: { owners: boolean }): string {
  const forms = [quoteIdent(from)];
  if (/^[a-z_][a-z0-9_$]*$/.test(from)) forms.push(from);
  const out: string[] = [];
  for (const line of sql.split('\n')) {
    if (line.startsWith('\\connect')) continue;
    if (!STATEMENT.test(line)) {
      out.push(line);
      continue;
    }
    if (!opts.owners && (/^ALTER ROLE\b/.test(line) || /^ALTER DATABASE .* OWNER TO .*;$/.test(line))) continue;
    let renamed: string | undefined;
    for (const f of forms) {
      const at = line.indexOf(`DATABASE ${f}`);
      const after = line[at + 'DATABASE '.length + f.length];
      if (at >= 0 && (after === ' ' || after === ';' || after === undefined)) {
        renamed = `${line.slice(0, at)}DATABASE ${quoteIdent(to)}${line.slice(at + 'DATABASE '.length + f.length)}`;
        break;
      }
    }
    // A statement of these entries that does not name the database is not one we can rename.
    if (renamed === undefined) throw new Error(`unexpected statement in the database entries: ${line.slice(0, 80)}`);
    out.push(renamed);
  }
  return out.join('\n');
}

/**
 * psql script (variables live, fresh, old) that swaps `fresh` in under the name `live` and keeps
 * the previous database as `old`. Both renames run in one transaction (ALTER DATABASE RENAME
 * may, unlike CREATE and DROP DATABASE), so a failure or a killed psql changes nothing. A rename
 * needs the database free of sessions: they are terminated, and a client that reconnects before
 * the rename only makes it try again.
 */
export const SWAP_SQL = `
SELECT set_config('lifeboat.live', :'live', false), set_config('lifeboat.fresh', :'fresh', false), set_config('lifeboat.old', :'old', false);
DO $$
DECLARE
  live text := current_setting('lifeboat.live');
BEGIN
  FOR i IN 1..50 LOOP
    PERFORM pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = live AND pid <> pg_backend_pid();
    BEGIN
      EXECUTE format('ALTER DATABASE %I RENAME TO %I', live, current_setting('lifeboat.old'));
      EXECUTE format('ALTER DATABASE %I RENAME TO %I', current_setting('lifeboat.fresh'), live);
      RETURN;
    EXCEPTION WHEN object_in_use THEN
      PERFORM pg_sleep(0.1);
    END;
  END LOOP;
  RAISE EXCEPTION 'database "%" is still in use by other sessions', live USING ERRCODE = 'object_in_use';
END $$;
`;

/** DROP DATABASE that does not wait for sessions (FORCE exists from PostgreSQL 13). */
export function dropSql(serverNum: number): string {
  return serverNum >= 130000
    ? `DROP DATABASE IF EXISTS :"db" WITH (FORCE);`
    : `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :'db';\nDROP DATABASE IF EXISTS :"db";`;
}

/**
 * Creates database `name` as the archive's database was created (encoding, locale, owner,
 * settings, grants, comment), from its DATABASE entries; `owners` false leaves out what needs
 * superuser rights. Two short reads of the archive: pg_restore stops after its table of contents.
 */
export async function createDatabaseLike(
  client: PgClient, runner: CommandRunner, tmpDir: string,
  o: { reader: ArtifactReader; artifact: string; from: string; name: string; owners: boolean; admin: string; signal: AbortSignal },
): Promise<void> {
  const list = await collect(runner, client.spec('pg_restore', ['--create', '--list'], o.signal), o.reader.open(o.artifact));
  if (!succeeded(list)) throw client.failure(`pg_restore --list of ${o.artifact}`, list);
  const entries = databaseEntries(list.stdout);
  let sql = `CREATE DATABASE ${quoteIdent(o.name)} TEMPLATE template0;`;
  if (entries.length > 0) {
    // --use-list wants a file (where pg_restore runs); it holds entry lines only, no data and no secret.
    const staged = await stageFile(runner, tmpDir, 'database.list', `${entries.join('\n')}\n`, o.signal);
    try {
      const r = await collect(runner, client.spec('pg_restore', ['--create', `--use-list=${staged.path}`, '--file=-'], o.signal), o.reader.open(o.artifact));
      if (!succeeded(r)) throw client.failure(`pg_restore of the database entries of ${o.artifact}`, r);
      try {
        sql = renameDatabaseSql(r.stdout, o.from, o.name, { owners: o.owners });
      } catch (err) {
        throw new SourceError(`${client.label}: cannot read the database entries of ${o.artifact}: ${errorMessage(err)}`, {
          cause: err,
          hint: 'restore it by hand: pg_restore --create into a server without that database',
        });
      }
    } finally {
      await staged.remove();
    }
  }
  await client.psql(o.admin, sql, `creating database "${o.name}"`, { signal: o.signal });
}
