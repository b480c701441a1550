import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SourceError } from '../../core/errors.ts';
import { connectionArgs, parseBatchLine, quoteIdent, quoteLiteral } from './mysql-client.ts';
import { renameDatabase, renameLine } from './mysql-rename.ts';
import { databaseOfArtifact, describeServerVersion, dumpArtifactName, hasTrailer } from './mysql-source.ts';
import { restoreTargets } from '../database-targets.ts';
import { toDatabaseFingerprint } from './mysql-fingerprint.ts';

describe('connection arguments', () => {
  it('use TCP with a host, the socket when one is given, and never carry the password', () => {
    assert.deepEqual(connectionArgs({ host: 'db', port: 3307, user: 'root', password: 'pw' }), ['--user=root', '--host=db', '--port=3307', '--protocol=tcp']);
    assert.deepEqual(connectionArgs({ host: 'localhost', port: 3306, user: 'u', socket: '/run/my.sock' }), ['--user=u', '--socket=/run/my.sock', '--protocol=socket']);
  });
});

describe('SQL text', () => {
  it('unescapes batch output', () => {
    assert.deepEqual(parseBatchLine('a\\tb\tc\\nd\te\\\\f'), ['a\tb', 'c\nd', 'e\\f']);
  });
  it('quotes identifiers and literals', () => {
    assert.equal(quoteIdent('we`ird'), '`we``ird`');
    assert.equal(quoteLiteral("it's"), "CONVERT(X'69742773' USING utf8mb4)");
  });
  it('describes server versions', () => {
    assert.equal(describeServerVersion('10.11.19-MariaDB-0+deb12u1'), 'MariaDB 10.11.19');
    assert.equal(describeServerVersion('8.0.36'), 'MySQL 8.0.36');
  });
});

describe('dump trailer', () => {
  it('accepts a dump that ends with the completion line', () => {
    assert.ok(hasTrailer(Buffer.from('...;\n\n-- Dump completed on 2026-01-01 10:00:00\n')));
  });
  it('refuses a dump cut anywhere before it', () => {
    assert.ok(!hasTrailer(Buffer.from("INSERT INTO `t` VALUES (1,'x'),\n(2,")));
    assert.ok(!hasTrailer(Buffer.from('-- Dump completed on 2026\nINSERT INTO `t` VALUES (1);\n')));
    assert.ok(!hasTrailer(Buffer.alloc(0)));
  });
});

describe('renaming a dump', () => {
  it('renames only the CREATE DATABASE and USE lines of that database', () => {
    assert.equal(renameLine('USE `app`;', 'app', 'copy'), 'USE `copy`;');
    assert.equal(
      renameLine('CREATE DATABASE /*!32312 IF NOT EXISTS*/ `app` /*!40100 DEFAULT CHARACTER SET utf8mb4 */;', 'app', 'copy'),
      'CREATE DATABASE /*!32312 IF NOT EXISTS*/ `copy` /*!40100 DEFAULT CHARACTER SET utf8mb4 */;',
    );
    assert.equal(renameLine('USE `application`;', 'app', 'copy'), 'USE `application`;');
    assert.equal(renameLine("INSERT INTO `t` VALUES ('USE `app`;');", 'app', 'copy'), "INSERT INTO `t` VALUES ('USE `app`;');");
  });
  it('keeps every other byte, across any chunking, non-UTF-8 bytes included', async () => {
    const dump = Buffer.concat([
      Buffer.from('-- header\nCREATE DATABASE /*!32312 IF NOT EXISTS*/ `ünï` /*!40100 x */;\n\nUSE `ünï`;\nINSERT INTO `t` VALUES ('),
      Buffer.from([0xff, 0xfe, 0x00, 0x0a, 0x80]),
      Buffer.from(");\nUSE `ünï`;"),
    ]);
    async function* pieces() {
      for (let i = 0; i < dump.length; i += 5) yield dump.subarray(i, i + 5);
    }
    const out: Buffer[] = [];
    for await (const c of renameDatabase(pieces(), 'ünï', 'copy')) out.push(Buffer.from(c));
    const expected = Buffer.from(dump.toString('latin1').replaceAll(Buffer.from('`ünï`').toString('latin1'), '`copy`'), 'latin1');
    assert.deepEqual(Buffer.concat(out), expected);
  });
});

describe('names and targets', () => {
  it('round-trips database names through artifact names', () => {
    for (const db of ['shop', 'a/b', '..', 'ünï']) {
      const name = dumpArtifactName(db);
      assert.ok(!name.includes('/') && name.endsWith('.sql'));
      assert.equal(databaseOfArtifact(name), db);
    }
  });
  it('maps to: like the postgres source', () => {
    assert.deepEqual(restoreTargets(['app'], 'copy', 'x'), [{ from: 'app', to: 'copy' }]);
    assert.deepEqual(restoreTargets(['app', 'shop'], 'shop=s', 'x'), [{ from: 'shop', to: 's' }]);
    assert.throws(() => restoreTargets(['app', 'shop'], 'copy', 'x'), SourceError);
    assert.throws(() => restoreTargets(['app'], 'nope=x', 'x'), /not in the backup/);
  });
  it('builds the fingerprint independent of the order rows came in', () => {
    const a = toDatabaseFingerprint(['b', 'a'], ['2', '1'], ['col b', 'col a']);
    const b = toDatabaseFingerprint(['a', 'b'], ['1', '2'], ['col a', 'col b']);
    assert.deepEqual(a, b);
    assert.deepEqual(a.tables, { a: 1, b: 2 });
  });
});
