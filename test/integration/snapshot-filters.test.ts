// restic's way of choosing "latest": restore, dump and ls take --host, --tag and --path, so
// "the latest snapshot of /srv/app" means that, not the newest snapshot of anything.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { lifeboat } from '../support/lifeboat-cli.ts';
import { tempDir } from '../support/tmp.ts';
import type { TempDir } from '../support/tmp.ts';

const PASSWORD = 'filters are not secrets';
let tmp: TempDir;
let repo: string;
let app: string;
let etc: string;

async function ok(args: string[], input?: string): Promise<string> {
  const r = await lifeboat(['-r', repo, ...args], { password: PASSWORD, input });
  assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

before(async () => {
  tmp = await tempDir('filters');
  repo = path.join(tmp.path, 'repo');
  app = path.join(tmp.path, 'app');
  etc = path.join(tmp.path, 'etc');
  await mkdir(app);
  await mkdir(etc);
  await writeFile(path.join(app, 'data.txt'), 'app data\n');
  await writeFile(path.join(etc, 'conf.txt'), 'etc conf\n');
  await ok(['init']);
  await ok(['backup', app, '--tag', 'app', '--host', 'alpha']);
  await ok(['backup', etc, '--tag', 'etc', '--host', 'beta']);
  await ok(['backup', '--stdin', '--stdin-filename', 'db.sql', '--tag', 'db'], 'select 1;\n'); // the newest
});
after(async () => tmp.cleanup());

test('restore latest --path restores the latest snapshot of that path, not the newest of all', async () => {
  const target = path.join(tmp.path, 'restored-app');
  await ok(['restore', 'latest', '--path', app, '--target', target]);
  assert.equal(await readFile(path.join(target, app, 'data.txt'), 'utf8'), 'app data\n');
});

test('ls and dump choose by --host and --tag the same way', async () => {
  const listed = await ok(['ls', 'latest', '--host', 'beta']);
  assert.match(listed, /conf\.txt/);
  assert.doesNotMatch(listed, /data\.txt|db\.sql/);
  assert.equal(await ok(['dump', 'latest', path.join(app, 'data.txt'), '--tag', 'app']), 'app data\n');
  assert.equal(await ok(['dump', 'latest', '/db.sql']), 'select 1;\n');
});

test('a filter nothing matches is a clear error naming the filter; stack mode refuses the flags', async () => {
  const r = await lifeboat(['-r', repo, 'restore', 'latest', '--path', '/nowhere', '--target', path.join(tmp.path, 'x')], { password: PASSWORD });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /no snapshot of path \/nowhere/);
  const s = await lifeboat(['-r', repo, 'restore', '--tag', 'app'], { password: PASSWORD });
  assert.notEqual(s.code, 0);
  assert.match(s.stderr, /choose the snapshot of a restore with --target/);
});
