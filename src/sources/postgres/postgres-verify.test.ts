import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import type { RunningCommand } from '../../core/command-runner.ts';
import { localRunner } from '../../transport/local-runner.ts';
import { memoryArtifacts } from '../../../test/support/memory-artifacts.ts';
import { PgClient } from './postgres-client.ts';
import { drillDatabaseName, drillTimestamp, feedAll, mappingProblem, parseToc, verifyArchive } from './postgres-verify.ts';
import { restoreTargets } from '../database-targets.ts';

const TOC = `;
; Archive created at 2026-11-22 04:02:05 UTC
;     dbname: app
;     TOC Entries: 12
;     Compression: 0
;     Format: CUSTOM
;
; Selected TOC Entries:
;
6; 2615 16385 SCHEMA - app postgres
214; 1259 16386 TABLE public Mixed Case postgres
215; 1259 16389 TABLE public p postgres
216; 1259 16392 TABLE public p1 postgres
217; 1259 16395 TABLE DATA owner_is_weird postgres
3204; 0 0 TABLE ATTACH public p1 postgres
3347; 0 16386 TABLE DATA public Mixed Case postgres
3348; 0 16392 TABLE DATA public p1 postgres
3349; 0 16395 TABLE DATA DATA owner_is_weird postgres
`;

describe('pg_restore --list parsing', () => {
  it('reads the header and classifies tables by catalog oid, not by splitting names', () => {
    assert.deepEqual(parseToc(TOC), {
      dbname: 'app', format: 'CUSTOM', declared: 12, entries: 9, tables: 4, tablesWithData: 3, tableData: 3,
    });
  });
  it('reads an empty database and output that is no TOC at all', () => {
    assert.deepEqual(parseToc(';\n;     dbname: e\n;     TOC Entries: 4\n;     Format: CUSTOM\n'), {
      dbname: 'e', format: 'CUSTOM', declared: 4, entries: 0, tables: 0, tablesWithData: 0, tableData: 0,
    });
    assert.equal(parseToc('').format, undefined);
  });
});

describe('drill database names', () => {
  const ts = drillTimestamp(new Date(Date.UTC(2026, 10, 22, 4, 12, 5, 678)));
  it('stamps UTC time as yyyymmddThhmmss', () => assert.equal(ts, '20261122T041205'));
  it('keeps plain names, and makes odd or long ones safe, short and distinct', () => {
    assert.equal(drillDatabaseName(ts, 'shop'), 'lifeboat_drill_20261122T041205_shop');
    const names = ['ünï cødé', 'a-b', 'a_b_'.repeat(20), 'a_b_'.repeat(20) + 'x'].map((db) => drillDatabaseName(ts, db));
    for (const n of names) {
      assert.match(n, /^lifeboat_drill_20261122T041205_[A-Za-z0-9_]+$/);
      assert.ok(Buffer.byteLength(n) <= 63, n);
    }
    assert.equal(new Set(names).size, names.length);
  });
  it('refuses names a to: mapping cannot carry, and the mapping it builds resolves back', () => {
    assert.equal(mappingProblem('app'), undefined);
    assert.match(mappingProblem('a,b') ?? '', /","/);
    assert.match(mappingProblem('x=y') ?? '', /"="/);
    assert.match(mappingProblem(' pad') ?? '', /white space/);
    const to = ['app', 'Weird Name'].map((db) => `${db}=${drillDatabaseName(ts, db)}`).join(',');
    assert.deepEqual(restoreTargets(['app', 'Weird Name'], to, 'x').map((t) => t.from), ['app', 'Weird Name']);
  });
});

describe('feeding one stream into several children', () => {
  function child(closeAfter?: number): RunningCommand & { got: Buffer[] } {
    const stdin = new PassThrough({ highWaterMark: 4 });
    const got: Buffer[] = [];
    stdin.on('data', (c: Buffer) => {
      got.push(c);
      if (closeAfter !== undefined && got.length >= closeAfter) stdin.destroy();
    });
    return { stdin, stdout: new PassThrough(), done: Promise.resolve({ code: 0, signal: null, stderr: '' }), kill: () => undefined, got };
  }
  async function* chunks(n: number) {
    for (let i = 0; i < n; i++) yield Buffer.from(`chunk ${i};`);
  }
  it('keeps feeding the others when one child stops reading (pg_restore --list after the TOC)', async () => {
    const early = child(2);
    const full = child();
    await feedAll([early, full], chunks(50));
    assert.equal(Buffer.concat(full.got).toString(), Array.from({ length: 50 }, (_, i) => `chunk ${i};`).join(''));
    assert.ok(early.got.length < 50);
  });
  it('kills every child when reading the input fails', async () => {
    const killed: string[] = [];
    const a = { ...child(), kill: () => void killed.push('a') };
    const b = { ...child(), kill: () => void killed.push('b') };
    async function* broken() {
      yield Buffer.from('x');
      throw new Error('blob does not match its hash');
    }
    await assert.rejects(feedAll([a, b], broken()), /does not match/);
    assert.deepEqual(killed, ['a', 'b']);
  });
});

describe('archive verification without pg_restore', () => {
  it('says the archive was not checked and how to get the tool', async () => {
    const arts = await memoryArtifacts();
    arts.set('app.dump', Buffer.alloc(100_000, 1));
    const client = new PgClient(localRunner, 'db', { host: 'h', port: 5432, user: 'u' }, '/nonexistent/bin');
    const r = await verifyArchive(client, localRunner, arts.reader(), 'app.dump', 'app', new AbortController().signal);
    await arts.cleanup();
    assert.deepEqual(r, { checks: [], problems: ['app.dump: not checked: /nonexistent/bin/pg_restore cannot be run; install postgresql-client or set bin_dir'] });
  });
});
