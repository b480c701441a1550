import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { LifeboatError, NotFoundError } from '../../core/errors.ts';
import { storageSuite } from '../../../test/suites/storage-suite.ts';
import type { FileInfo, FileType, Storage } from '../storage.ts';
import { mapFsError } from './fs-errors.ts';
import { createLocalStorage } from './local-storage.ts';

const tempDir = (): Promise<string> => fs.mkdtemp(path.join(tmpdir(), 'lifeboat-local-'));
const id = (): string => randomBytes(32).toString('hex');
const rmrf = (dir: string): Promise<void> => fs.rm(dir, { recursive: true, force: true });

async function names(s: Storage, type: FileType): Promise<string[]> {
  const out: FileInfo[] = [];
  for await (const fi of s.list(type)) out.push(fi);
  return out.map((f) => f.name).sort();
}

storageSuite('local', async () => {
  const dir = await tempDir();
  return { storage: createLocalStorage(path.join(dir, 'repo')), cleanup: () => rmrf(dir) };
});

describe('local storage on disk', () => {
  let dir: string;
  let s: Storage;
  beforeEach(async () => {
    dir = path.join(await tempDir(), 'repo');
    s = createLocalStorage(dir);
    await s.create();
  });
  afterEach(() => rmrf(path.dirname(dir)));

  test('create lays out restic directories and refuses an existing config', async () => {
    for (const d of ['keys', 'locks', 'snapshots', 'index', 'data/00', 'data/7f', 'data/ff']) {
      assert.ok((await fs.stat(path.join(dir, d))).isDirectory(), d);
    }
    assert.equal((await fs.readdir(path.join(dir, 'data'))).length, 256);
    await fs.writeFile(path.join(dir, 'config'), 'x');
    await assert.rejects(createLocalStorage(dir).create(), (err: unknown) => err instanceof LifeboatError && err.code === 'already_exists');
  });

  test('files land at restic paths and are read-only', async () => {
    const name = id();
    await s.save({ type: 'data', name }, Buffer.from('pack'));
    await s.save({ type: 'config', name: '' }, Buffer.from('cfg'));
    const file = path.join(dir, 'data', name.slice(0, 2), name);
    assert.equal(await fs.readFile(file, 'utf8'), 'pack');
    assert.equal((await fs.stat(file)).mode & 0o222, 0, 'no write bits');
    assert.equal((await fs.stat(path.join(dir, 'config'))).mode & 0o222, 0);
    await s.remove({ type: 'data', name }); // read-only files can still be removed
    assert.equal(existsSync(file), false);
  });

  test('an interrupted save leaves nothing visible: temporaries and stray files are not listed', async () => {
    const kept = id();
    await s.save({ type: 'snapshots', name: kept }, Buffer.from('s'));
    // What a crash between write and link leaves behind, plus junk a user may have dropped in.
    await fs.writeFile(path.join(dir, 'snapshots', `.tmp-${id()}-abcdef`), 'partial');
    await fs.writeFile(path.join(dir, 'snapshots', 'notes.txt'), 'junk');
    await fs.writeFile(path.join(dir, 'snapshots', id().toUpperCase()), 'upper case');
    await fs.mkdir(path.join(dir, 'snapshots', id()));
    const misplaced = 'ab' + id().slice(2);
    await fs.writeFile(path.join(dir, 'data', 'cd', misplaced), 'wrong subdirectory');
    await fs.writeFile(path.join(dir, 'data', `.tmp-${id()}`), 'x');
    await fs.mkdir(path.join(dir, 'data', 'zz'));
    await fs.writeFile(path.join(dir, 'data', 'zz', id()), 'x');
    assert.deepEqual(await names(s, 'snapshots'), [kept]);
    assert.deepEqual(await names(s, 'data'), []);
  });

  test('a save into a missing data subdirectory recreates it', async () => {
    const name = 'e1' + id().slice(2);
    await fs.rm(path.join(dir, 'data', 'e1'), { recursive: true });
    await s.save({ type: 'data', name }, Buffer.from('x'));
    assert.deepEqual(await names(s, 'data'), [name]);
  });

  test('no temporary file remains after saves, failed ones included', async () => {
    const name = id();
    await s.save({ type: 'index', name }, Buffer.from('1'));
    await assert.rejects(s.save({ type: 'index', name }, Buffer.from('2')));
    assert.deepEqual(await fs.readdir(path.join(dir, 'index')), [name]);
  });

  test('names that are not IDs are refused, so no path leaves the repository', async () => {
    for (const name of ['../../escape', 'ab', id().toUpperCase(), '']) {
      await assert.rejects(s.save({ type: 'keys', name }, Buffer.from('x')), (err: unknown) => err instanceof LifeboatError && err.code === 'invalid_handle');
    }
    assert.equal(existsSync(path.join(path.dirname(dir), 'escape')), false);
  });

  test('location is the absolute path', () => {
    const rel = createLocalStorage('some/rel');
    assert.equal(rel.properties.location, `local:${path.resolve('some/rel')}`);
    assert.equal(rel.properties.canDelete, true);
  });

  test('a missing file is named in the NotFoundError', async () => {
    const name = id();
    await assert.rejects(s.load({ type: 'keys', name }), (err: unknown) => err instanceof NotFoundError && err.message.includes(`keys/${name}`));
  });

  test('a repository made by restic is readable', { skip: !existsSync('/usr/bin/restic') && 'restic not installed' }, async () => {
    const repo = path.join(path.dirname(dir), 'restic-repo');
    execFileSync('restic', ['init', '--repo', repo, '--repository-version', '2'], {
      env: { ...process.env, RESTIC_PASSWORD: 'test-password', RESTIC_CACHE_DIR: path.join(path.dirname(dir), 'cache') },
      stdio: 'ignore',
    });
    const r = createLocalStorage(repo);
    const keys = await names(r, 'keys');
    assert.equal(keys.length, 1);
    const key = await r.load({ type: 'keys', name: keys[0] });
    assert.equal(JSON.parse(key.toString()).kdf, 'scrypt');
    assert.ok((await r.stat({ type: 'config', name: '' })).size > 0);
    await assert.rejects(r.create(), (err: unknown) => err instanceof LifeboatError && err.code === 'already_exists');
  });
});

describe('mapFsError', () => {
  const ctx = { op: 'save', what: 'data/00ff', location: 'local:/srv/repo', path: '/srv/repo/data/00/00ff' };
  const sysErr = (code: string): Error => Object.assign(new Error(`${code}: failed`), { code });

  test('a full disk is permanent storage_full with a hint naming the directory', () => {
    for (const code of ['ENOSPC', 'EDQUOT']) {
      const err = mapFsError(sysErr(code), { ...ctx, dir: '/srv/repo' });
      assert.equal(err.code, 'storage_full');
      assert.equal(err.retryable, false);
      assert.match(err.hint ?? '', /free space on \/srv\/repo/);
      assert.ok(err.message.includes('data/00ff'));
    }
  });

  test('permissions are permanent, missing files are NotFoundError, EEXIST is already_exists', () => {
    for (const code of ['EACCES', 'EPERM', 'EROFS']) {
      const err = mapFsError(sysErr(code), ctx);
      assert.equal(err.code, 'permission_denied');
      assert.equal(err.retryable, false);
    }
    assert.ok(mapFsError(sysErr('ENOENT'), ctx) instanceof NotFoundError);
    assert.equal(mapFsError(sysErr('EEXIST'), ctx).code, 'already_exists');
  });

  test('transient errno codes are retryable, unknown ones are not', () => {
    assert.equal(mapFsError(sysErr('EIO'), ctx).retryable, true);
    assert.equal(mapFsError(sysErr('EAGAIN'), ctx).retryable, true);
    assert.equal(mapFsError(sysErr('EISDIR'), ctx).retryable, false);
    assert.equal(mapFsError(new Error('odd'), ctx).code, 'io_error');
  });
});
