import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { memoryArtifacts } from '../../../test/support/memory-artifacts.ts';
import { LinePrefixes, drillDatabaseName, drillTimestamp, verifyDump } from './mysql-verify.ts';

/** The shape mariadb-dump --databases writes (MariaDB 11 adds the sandbox comment first). */
function dump(db: string, opts: { sandbox?: boolean; tool?: string } = {}): Buffer {
  const q = `\`${db.replaceAll('`', '``')}\``;
  return Buffer.concat([
    Buffer.from([
      ...(opts.sandbox ? ['/*M!999999\\- enable the sandbox mode */ '] : []),
      `-- ${opts.tool ?? 'MariaDB'} dump 10.19  Distrib 10.11.14-MariaDB, for debian-linux-gnu (x86_64)`,
      '--',
      '-- Host: 127.0.0.1    Database: x',
      '',
      `CREATE DATABASE /*!32312 IF NOT EXISTS*/ ${q} /*!40100 DEFAULT CHARACTER SET utf8mb4 */;`,
      '',
      `USE ${q};`,
      'CREATE TABLE `items` (',
      '  `id` int(11) NOT NULL,',
      '  PRIMARY KEY (`id`)',
      ') ENGINE=InnoDB;',
      "INSERT INTO `items` VALUES (1,'CREATE TABLE inside a string\\nCREATE TABLE `x`'),",
    ].join('\n')),
    Buffer.from(`(2,'${'y'.repeat(300_000)}');\n`),
    Buffer.from('/*!50001 CREATE TABLE `a_view` (\n  `id` tinyint NOT NULL\n) */;\nCREATE TABLE `Mixed Case` (`k` int);\nINSERT INTO `Mixed Case` VALUES (1);\n\n-- Dump completed on 2026-11-22  4:12:05\n'),
  ]);
}

async function verify(name: string, bytes: Buffer, db: string) {
  const arts = await memoryArtifacts();
  arts.set(name, bytes);
  try {
    return await verifyDump(arts.reader(), name, db);
  } finally {
    await arts.cleanup();
  }
}

describe('mysql dump verification', () => {
  it('accepts a complete dump and counts statements from line starts only', async () => {
    const r = await verify('app.sql', dump('app'), 'app');
    assert.deepEqual(r.problems, []);
    assert.match(r.checks[0], /^app\.sql: -- MariaDB dump 10\.19 .*; 2 CREATE TABLE and 2 INSERT statements, \d+ bytes, ends with "-- Dump completed on 2026-11-22 {2}4:12:05"$/);
    assert.deepEqual((await verify('app.sql', dump('app', { sandbox: true, tool: 'MySQL' }), 'app')).problems, []);
  });
  it('matches a non-ASCII database name byte for byte', async () => {
    assert.deepEqual((await verify('%C3%BCn%C3%AF.sql', dump('ünï'), 'ünï')).problems, []);
    assert.match((await verify('uni.sql', dump('ünï'), 'uni')).problems[0], /no CREATE DATABASE line for "uni"/);
  });
  it('reports a dump cut anywhere, a foreign file and an empty one', async () => {
    const whole = dump('app');
    for (const cut of [whole.length - 1 - '-- Dump completed on 2026-11-22  4:12:05'.length, 200_000, 100]) {
      const r = await verify('app.sql', whole.subarray(0, cut), 'app');
      assert.ok(r.problems.includes('app.sql: does not end with the "-- Dump completed" trailer: it is truncated'), `cut at ${cut}`);
      assert.deepEqual(r.checks, []);
    }
    const foreign = await verify('app.sql', Buffer.from('PGDMP binary archive\n-- Dump completed\n'), 'app');
    assert.match(foreign.problems[0], /does not start with a mariadb-dump or mysqldump header/);
    assert.deepEqual((await verify('app.sql', Buffer.alloc(0), 'app')).problems, ['app.sql: is empty']);
  });
});

describe('line prefixes', () => {
  it('sees the same line starts however the stream is split', () => {
    const text = Buffer.from(`first line\n${'z'.repeat(1000)}\n\nCREATE TABLE \`t\`\nlast`);
    for (const size of [1, 3, 7, 256, 5000]) {
      const seen: string[] = [];
      const scan = new LinePrefixes((l) => void seen.push(l.slice(0, 12)));
      for (let i = 0; i < text.length; i += size) scan.push(text.subarray(i, i + size));
      scan.end();
      assert.deepEqual(seen, ['first line', 'zzzzzzzzzzzz', '', 'CREATE TABLE', 'last'], `chunks of ${size}`);
    }
  });
});

describe('drill database names', () => {
  it('stay within 64 characters and distinct', () => {
    const ts = drillTimestamp(new Date(Date.UTC(2026, 0, 2, 3, 4, 5)));
    assert.equal(drillDatabaseName(ts, 'shop'), 'lifeboat_drill_20260102T030405_shop');
    const a = drillDatabaseName(ts, 'x'.repeat(60));
    const b = drillDatabaseName(ts, `${'x'.repeat(60)}y`);
    assert.ok(a.length <= 64 && b.length <= 64 && a !== b);
  });
});
