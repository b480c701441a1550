import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { databaseEntries, renameDatabaseSql } from './postgres-replace.ts';

/** What `pg_restore --create --use-list=<the DATABASE entries>` prints (PostgreSQL 15). */
const sql = (q: string) => `SET client_encoding = 'UTF8';
\\restrict abc
CREATE DATABASE ${q} WITH TEMPLATE = template0 ENCODING = 'UTF8' LOCALE_PROVIDER = libc LOCALE = 'C.UTF-8';
ALTER DATABASE ${q} OWNER TO owner1;
\\unrestrict abc
\\connect -reuse-previous=on "dbname='x'"
\\restrict abc
COMMENT ON DATABASE ${q} IS 'two
lines, DATABASE ${q} inside';
ALTER DATABASE ${q} SET work_mem TO '7MB';
ALTER ROLE reader IN DATABASE ${q} SET search_path TO 'x';
REVOKE CONNECT,TEMPORARY ON DATABASE ${q} FROM PUBLIC;
GRANT CONNECT ON DATABASE ${q} TO reader;
\\unrestrict abc
`;

describe('database entries of an archive', () => {
  it('selects the entries that describe the database itself', () => {
    const toc = [
      ';     dbname: We ird',
      '3344; 1262 16386 DATABASE - We ird owner1',
      '3345; 0 0 COMMENT - DATABASE "We ird" owner1',
      '3346; 0 0 ACL - DATABASE "We ird" owner1',
      '3347; 0 0 DATABASE PROPERTIES - We ird owner1',
      '5; 2615 2200 SCHEMA - public owner1',
      '214; 1259 16387 TABLE public DATABASE owner1',
    ].join('\n');
    assert.deepEqual(databaseEntries(toc), [
      '3344; 1262 16386 DATABASE - We ird owner1',
      '3345; 0 0 COMMENT - DATABASE "We ird" owner1',
      '3346; 0 0 ACL - DATABASE "We ird" owner1',
      '3347; 0 0 DATABASE PROPERTIES - We ird owner1',
    ]);
  });

  it('renames the database in every statement, plain or quoted, and drops \\connect', () => {
    for (const [from, q] of [['app', 'app'], ['We "ird"', '"We ""ird"""'], ['user', '"user"']]) {
      const out = renameDatabaseSql(sql(q), from, 'lifeboat_restore_1', { owners: true });
      assert.doesNotMatch(out, /\\connect/);
      assert.equal(out.match(/DATABASE "lifeboat_restore_1"/g)?.length, 7, out);
      // The comment's second line is its text, not a statement: left as it is.
      assert.ok(out.includes(`lines, DATABASE ${q} inside';`), out);
      assert.match(out, /^CREATE DATABASE "lifeboat_restore_1" WITH TEMPLATE = template0 ENCODING = 'UTF8'/m);
    }
  });

  it('never renames another database whose name starts the same', () => {
    assert.throws(() => renameDatabaseSql('ALTER DATABASE app2 SET x TO 1;', 'app', 'new', { owners: true }), /unexpected statement/);
  });

  it('leaves out owner and per-role settings without superuser rights', () => {
    const out = renameDatabaseSql(sql('app'), 'app', 'n', { owners: false });
    assert.doesNotMatch(out, /OWNER TO|ALTER ROLE/);
    assert.match(out, /ALTER DATABASE "n" SET work_mem/);
  });
});
