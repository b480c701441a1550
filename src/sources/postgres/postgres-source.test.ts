import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import type { RunningCommand } from '../../core/command-runner.ts';
import { SourceError } from '../../core/errors.ts';
import { dbArg, dumpVersionProblem, serverMajor, toolMajor } from './postgres-client.ts';
import { tablePattern } from './postgres-fingerprint.ts';
import { filterGlobals, globalsLine } from './postgres-globals.ts';
import type { GlobalsContext } from './postgres-globals.ts';
import { guardedOutput } from '../process-kit.ts';
import { databaseOfArtifact, dumpArtifactName } from './postgres-source.ts';
import { restoreTargets } from '../database-targets.ts';

describe('pg_dump version check', () => {
  it('accepts a pg_dump as new as the server or newer', () => {
    assert.equal(dumpVersionProblem('pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)', 150018), undefined);
    assert.equal(dumpVersionProblem('pg_dump (PostgreSQL) 17.2', 150018), undefined);
    assert.equal(dumpVersionProblem('pg_dump (PostgreSQL) 15.1', 90624), undefined);
  });

  it('refuses an older pg_dump, naming both versions and the fix', () => {
    const p = dumpVersionProblem('pg_dump (PostgreSQL) 15.18', 160004);
    assert.ok(p !== undefined);
    assert.match(p, /pg_dump 15 is older than the PostgreSQL 16 server/);
    assert.match(p, /postgresql-client-16/);
    assert.match(p, /bin_dir/);
  });

  it('reports an unreadable version', () => {
    assert.match(dumpVersionProblem('something else', 150000) ?? '', /cannot tell the version/);
  });

  it('reads majors', () => {
    assert.equal(toolMajor('pg_dump (PostgreSQL) 9.6.24'), 9);
    assert.equal(serverMajor(170000), 17);
    assert.equal(serverMajor(90624), 9);
  });
});

describe('names', () => {
  it('passes plain database names as they are and wraps others as a dbname= string', () => {
    assert.equal(dbArg('app_1'), 'app_1');
    assert.equal(dbArg('host=evil'), "dbname='host=evil'");
    assert.equal(dbArg("it's"), "dbname='it\\'s'");
    assert.equal(dbArg('postgresql://x'), "dbname='postgresql://x'");
  });

  it('round-trips database names through artifact names', () => {
    for (const db of ['app', 'a/b', '..', 'ünï cødé', '100%']) {
      const name = dumpArtifactName(db);
      assert.ok(!name.includes('/') && name !== '..' && name.endsWith('.dump'));
      assert.equal(databaseOfArtifact(name), db);
    }
    assert.equal(databaseOfArtifact('globals.sql'), undefined);
  });

  it('turns pg_dump table patterns into anchored regexes', () => {
    const match = (pattern: string, schema: string, table: string) => {
      const { s, t } = tablePattern(pattern);
      return new RegExp(s).test(schema) && new RegExp(t).test(table);
    };
    assert.ok(match('public.scratch_*', 'public', 'scratch_log'));
    assert.ok(!match('public.scratch_*', 'app', 'scratch_log'));
    assert.ok(match('Audit', 'any', 'audit'), 'unquoted folds to lower case');
    assert.ok(!match('"Audit"', 'any', 'audit'));
    assert.ok(match('"Audit"', 'any', 'Audit'));
    assert.ok(match('a?c', 's', 'abc'));
    assert.ok(!match('a.c', 's', 'abc'), 'a dot separates the schema');
    assert.ok(!match('t+1', 's', 'tt1'), 'regex characters are literal');
  });
});

describe('restore targets', () => {
  const label = 'postgres source "db"';
  it('restores every database onto itself without to', () => {
    assert.deepEqual(restoreTargets(['app', 'shop'], undefined, label), [{ from: 'app', to: 'app' }, { from: 'shop', to: 'shop' }]);
  });
  it('takes a bare name only for a one-database backup', () => {
    assert.deepEqual(restoreTargets(['app'], 'app_copy', label), [{ from: 'app', to: 'app_copy' }]);
    assert.throws(() => restoreTargets(['app', 'shop'], 'copy', label), (e) => e instanceof SourceError && /app=copy/.test(e.hint ?? ''));
    assert.throws(() => restoreTargets(undefined, 'copy', label), SourceError);
  });
  it('reads mappings and refuses unknown or colliding ones', () => {
    assert.deepEqual(restoreTargets(['app', 'shop'], 'shop = s2', label), [{ from: 'shop', to: 's2' }]);
    assert.deepEqual(restoreTargets(undefined, 'a=b,c=d', label), [{ from: 'a', to: 'b' }, { from: 'c', to: 'd' }]);
    assert.throws(() => restoreTargets(['app'], 'x=y', label), /not in the backup/);
    assert.throws(() => restoreTargets(['a', 'b'], 'a=z,b=z', label), /two databases/);
    assert.throws(() => restoreTargets(['a'], 'a=', label), /cannot read/);
  });
});

describe('globals filter', () => {
  const ctx: GlobalsContext = {
    roles: new Set(['postgres', 'app_owner', '"Weird ""Role"""']),
    tablespaces: new Set(['fast']),
    currentUser: 'postgres',
    keepExistingRoles: false,
  };
  it('skips creating what exists and never alters the connected role', () => {
    assert.match(globalsLine('CREATE ROLE app_owner;', ctx), /^-- /);
    assert.match(globalsLine('CREATE ROLE "Weird ""Role""";', ctx), /^-- /);
    assert.equal(globalsLine('CREATE ROLE newbie;', ctx), 'CREATE ROLE newbie;');
    assert.match(globalsLine("ALTER ROLE postgres WITH SUPERUSER LOGIN PASSWORD 'SCRAM...';", ctx), /^-- /);
    assert.equal(globalsLine('ALTER ROLE app_owner WITH LOGIN;', ctx), 'ALTER ROLE app_owner WITH LOGIN;');
    assert.match(globalsLine("CREATE TABLESPACE fast OWNER postgres LOCATION '/x';", ctx), /^-- /);
    assert.equal(globalsLine('GRANT app_owner TO postgres;', ctx), 'GRANT app_owner TO postgres;');
  });
  it('leaves existing roles alone when restoring a copy', () => {
    const copy = { ...ctx, keepExistingRoles: true };
    assert.match(globalsLine('ALTER ROLE app_owner WITH LOGIN;', copy), /^-- /);
    assert.match(globalsLine("ALTER ROLE app_owner SET search_path TO 'x';", copy), /^-- /);
    assert.equal(globalsLine('ALTER ROLE newbie WITH LOGIN;', copy), 'ALTER ROLE newbie WITH LOGIN;');
  });
  it('filters a stream split anywhere, multi-byte characters included', async () => {
    const text = 'SET x = 1;\nCREATE ROLE app_owner;\nCOMMENT ON ROLE newbie IS \'ünï\';\nCREATE ROLE newbie;';
    const bytes = Buffer.from(text);
    async function* pieces() {
      for (let i = 0; i < bytes.length; i += 3) yield bytes.subarray(i, i + 3);
    }
    const out: Buffer[] = [];
    for await (const c of filterGlobals(pieces(), ctx)) out.push(Buffer.from(c));
    assert.equal(Buffer.concat(out).toString(), text.replace('CREATE ROLE app_owner;', '-- lifeboat: role app_owner exists, not created'));
  });
});

describe('guarded output', () => {
  function fakeCommand(exit: { code: number | null; signal: NodeJS.Signals | null }): RunningCommand & { killed: boolean } {
    const stdout = new PassThrough();
    let resolveDone: (v: { code: number | null; signal: NodeJS.Signals | null; stderr: string }) => void = () => undefined;
    const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((r) => (resolveDone = r));
    stdout.on('end', () => resolveDone({ ...exit, stderr: 'boom' }));
    const cmd = {
      stdout,
      stdin: new PassThrough(),
      done,
      killed: false,
      kill() {
        cmd.killed = true;
        resolveDone({ code: null, signal: 'SIGKILL', stderr: '' });
      },
    };
    stdout.end(Buffer.from('partial dump'));
    return cmd;
  }
  const check = (fin: { code: number | null }) => (fin.code === 0 ? undefined : new SourceError(`exit ${fin.code}`));

  it('passes the bytes of a tool that succeeded', async () => {
    const chunks: Uint8Array[] = [];
    for await (const c of guardedOutput(fakeCommand({ code: 0, signal: null }), check)) chunks.push(c);
    assert.equal(Buffer.concat(chunks).toString(), 'partial dump');
  });

  it('throws after the last byte when the tool failed, so the consumer never sees a clean end', async () => {
    await assert.rejects(async () => {
      for await (const _ of guardedOutput(fakeCommand({ code: 1, signal: null }), check));
    }, /exit 1/);
  });

  it('kills the tool when the consumer stops early', async () => {
    const cmd = fakeCommand({ code: 0, signal: null });
    for await (const _ of guardedOutput(cmd, check)) break;
    assert.ok(cmd.killed);
  });
});
