/**
 * The pure reading of a Gitea dump: tar entries (ustar, PAX long names), a cut or damaged
 * archive, app.ini → layout, and the structure checks of verify. Archives are made with the
 * system tar (GNU) in PAX format, as Go's archive/tar writes long names.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { tempDir, type TempDir } from '../../../test/support/tmp.ts';
import { TarFormatError, checkDumpLayout, giteaLayout, parseIni, scanTar } from './gitea-dump.ts';

async function* chunked(buf: Buffer, size = 700): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}

const LONG = `repos/lbadmin/${'x'.repeat(120)}.git`;

describe('gitea dump reading', () => {
  let tmp: TempDir;
  let tar: Buffer;
  before(async () => {
    tmp = await tempDir('gitea-dump');
    const root = path.join(tmp.path, 'dump');
    for (const d of ['repos/lbadmin/app.git/objects/pack', 'repos/lbadmin/app.git/refs/heads', `${LONG}/objects`, `${LONG}/refs`, 'data/avatars']) await mkdir(path.join(root, d), { recursive: true });
    await writeFile(path.join(root, 'repos/lbadmin/app.git/HEAD'), 'ref: refs/heads/main\n');
    await writeFile(path.join(root, `${LONG}/HEAD`), 'ref: refs/heads/main\n');
    await writeFile(path.join(root, 'app.ini'), 'WORK_PATH = /srv/gitea\n[database]\nDB_TYPE = sqlite3\n');
    await writeFile(path.join(root, 'gitea-db.sql'), 'CREATE TABLE x (id INTEGER);\n');
    await writeFile(path.join(root, 'data/avatars/a.png'), Buffer.alloc(3000, 7));
    execFileSync('tar', ['--format=pax', '-cf', path.join(tmp.path, 'dump.tar'), '-C', root, 'app.ini', 'gitea-db.sql', 'repos', 'data']);
    tar = await readFile(path.join(tmp.path, 'dump.tar'));
  });
  after(() => tmp?.cleanup());

  it('lists every entry, long names included, keeps the wanted file and sees the end of the archive', async () => {
    const scan = await scanTar(chunked(tar), (n) => n === 'app.ini');
    const names = scan.entries.map((e) => e.name);
    assert.ok(names.includes(`${LONG}/HEAD`), 'the PAX long name was not read');
    assert.ok(names.includes('data/avatars/a.png'));
    assert.equal(scan.entries.find((e) => e.name === 'data/avatars/a.png')?.size, 3000);
    assert.equal(scan.files.get('app.ini')?.toString(), 'WORK_PATH = /srv/gitea\n[database]\nDB_TYPE = sqlite3\n');
    assert.equal(scan.complete, true);
    assert.deepEqual(checkDumpLayout(scan, true)[1], []);
    assert.match(checkDumpLayout(scan, true)[0][0] ?? '', /2 bare repositories, gitea-db\.sql, app\.ini, complete/);
  });

  it('a cut archive is incomplete, and verify says so', async () => {
    const cut = tar.subarray(0, tar.indexOf(Buffer.alloc(64, 7)) + 1000); // inside the avatar's bytes
    const scan = await scanTar(chunked(cut));
    assert.equal(scan.complete, false);
    assert.ok(checkDumpLayout(scan, true)[1].some((p) => /cut short/.test(p)));
  });

  it('a damaged header is a TarFormatError', async () => {
    const bad = Buffer.from(tar);
    bad[1030] = (bad[1030] ?? 0) ^ 0xff; // inside the second header block or its name
    const damaged = Buffer.concat([bad.subarray(0, 512), Buffer.alloc(512, 0x41), bad.subarray(1024)]);
    await assert.rejects(scanTar(chunked(damaged)), TarFormatError);
  });

  it('names a repository that is not bare and a missing database dump', async () => {
    const scan = { entries: [{ name: 'app.ini', type: '0', size: 1 }, { name: 'repos/a/b.git/config', type: '0', size: 1 }], files: new Map(), complete: true };
    const [, problems] = checkDumpLayout(scan, true);
    assert.deepEqual(problems, ['gitea-db.sql: missing (the database dump)', 'repos/a/b.git: not a bare repository (no HEAD, objects, refs)']);
    assert.deepEqual(checkDumpLayout(scan, false)[1], ['repos/a/b.git: not a bare repository (no HEAD, objects, refs)']);
  });

  it('derives the layout from app.ini with Gitea\'s defaults, relative paths under the work path', () => {
    const ini = parseIni('WORK_PATH = /srv/gitea\n[server]\nAPP_DATA_PATH = "/var/lib/gitea"\n[repository]\nROOT = repos\n[database]\nDB_TYPE = sqlite3\n');
    assert.deepEqual(giteaLayout(ini), {
      workPath: '/srv/gitea', dataPath: '/var/lib/gitea', repoRoot: '/srv/gitea/repos', customPath: '/srv/gitea/custom', dbType: 'sqlite3', dbPath: '/var/lib/gitea/gitea.db',
    });
    const defaults = giteaLayout(parseIni('[database]\nDB_TYPE = postgres\n'), '/data/gitea');
    assert.deepEqual(defaults, {
      workPath: '/data/gitea', dataPath: '/data/gitea/data', repoRoot: '/data/gitea/data/gitea-repositories', customPath: '/data/gitea/custom', dbType: 'postgres', dbPath: '/data/gitea/data/gitea.db',
    });
    assert.match(String(giteaLayout(parseIni('[server]\nHTTP_PORT = 3000\n'))), /WORK_PATH/);
  });
});
