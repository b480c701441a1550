// Cross-checks key files and sealed files against the restic CLI, both directions: a repository
// restic initialised opens with lifeboat's code, and one lifeboat laid out opens with restic.
// Skipped when restic is not installed, unless REQUIRE_SERVERS=1.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdir, readFile, readdir, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { NotFoundError, WrongPasswordError } from '../../src/core/errors.ts';
import type { FileInfo, FileType, Handle, Storage } from '../../src/storage/storage.ts';
import { filePath } from '../../src/storage/storage.ts';
import { initCrypto, newMasterKey, open, seal } from '../../src/repo/crypto/crypto.ts';
import { addKey, listKeys, openKey } from '../../src/repo/key/key-file.ts';

const PASSWORD = 'oracle test password';
const haveRestic = spawnSync('restic', ['version'], { encoding: 'utf8' }).status === 0;
const required = process.env.REQUIRE_SERVERS === '1';
const skip = !haveRestic && !required ? 'restic is not on PATH' : false;

/** A bare directory in restic's layout, read and written straight through node:fs. */
class DirStorage implements Storage {
  readonly dir: string;
  readonly properties: Storage['properties'];
  constructor(dir: string) {
    this.dir = dir;
    this.properties = { location: `local:${dir}`, connections: 2, canDelete: true };
  }
  async create(): Promise<void> {
    for (const d of ['keys', 'index', 'snapshots', 'locks']) await mkdir(join(this.dir, d), { recursive: true });
    for (let i = 0; i < 256; i++) await mkdir(join(this.dir, 'data', i.toString(16).padStart(2, '0')), { recursive: true });
  }
  async save(h: Handle, data: Uint8Array): Promise<void> {
    const p = join(this.dir, filePath(h));
    await mkdir(dirname(p), { recursive: true });
    await writeFile(p, data, { flag: h.type === 'config' ? 'w' : 'wx' });
  }
  async load(h: Handle): Promise<Buffer> {
    try {
      return await readFile(join(this.dir, filePath(h)));
    } catch (err) {
      throw new NotFoundError(`${filePath(h)} not found`, { cause: err });
    }
  }
  async stat(h: Handle): Promise<FileInfo> {
    return { name: h.name, size: (await this.load(h)).length };
  }
  async remove(h: Handle): Promise<void> {
    await unlink(join(this.dir, filePath(h)));
  }
  async *list(type: FileType): AsyncIterable<FileInfo> {
    if (type === 'data' || type === 'config') throw new Error('not needed here');
    for (const name of await readdir(join(this.dir, type))) yield { name, size: 0 };
  }
  async close(): Promise<void> {}
}

function restic(args: string[], password = PASSWORD): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('restic', ['--no-cache', ...args], {
    encoding: 'utf8',
    env: { ...process.env, RESTIC_PASSWORD: password, RESTIC_CACHE_DIR: join(tmp, 'cache') },
  });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

let tmp = '';
before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'lifeboat-key-oracle-'));
  await initCrypto();
});
after(() => {
  if (tmp !== '') rmSync(tmp, { recursive: true, force: true });
});

test('a repository made by restic init opens with openKey and open()', { skip }, async () => {
  const dir = join(tmp, 'by-restic');
  const init = restic(['init', '--repo', dir, '--repository-version', '2']);
  assert.equal(init.status, 0, init.stderr);
  const st = new DirStorage(dir);

  const { id, master } = await openKey(st, PASSWORD);
  assert.deepEqual((await readdir(join(dir, 'keys'))), [id]);
  const config = JSON.parse(open(master, await st.load({ type: 'config', name: '' })).toString('utf8')) as Record<string, unknown>;
  assert.equal(config.version, 2);
  assert.match(String(config.chunker_polynomial), /^[0-9a-f]+$/);
  assert.match(String(config.id), /^[0-9a-f]{64}$/);
  // restic's own view of the config is what we decrypted.
  assert.deepEqual(JSON.parse(restic(['-r', dir, 'cat', 'config']).stdout), config);

  const keys = await listKeys(st);
  assert.deepEqual(keys.map((k) => k.id), [id]);
  await assert.rejects(openKey(st, 'not the password'), WrongPasswordError);
});

test('a repository laid out by lifeboat opens with restic', { skip }, async () => {
  const dir = join(tmp, 'by-lifeboat');
  const st = new DirStorage(dir);
  await st.create();
  const master = newMasterKey();
  const config = { version: 2, id: randomBytes(32).toString('hex'), chunker_polynomial: '3da3358b4dc173' };
  await st.save({ type: 'config', name: '' }, seal(master, Buffer.from(JSON.stringify(config))));
  const id = await addKey(st, PASSWORD, master, { username: 'lb-user', hostname: 'lb-host', scrypt: { N: 1024, r: 8, p: 1 } });

  const cat = restic(['-r', dir, 'cat', 'config']);
  assert.equal(cat.status, 0, cat.stderr);
  assert.deepEqual(JSON.parse(cat.stdout), config);

  const list = restic(['-r', dir, 'key', 'list', '--json']);
  assert.equal(list.status, 0, list.stderr);
  const keys = JSON.parse(list.stdout) as Array<{ id: string; userName: string; hostName: string; current: boolean }>;
  assert.equal(keys.length, 1);
  assert.ok(id.startsWith(keys[0].id), `${keys[0].id} is a prefix of ${id}`);
  assert.equal(keys[0].userName, 'lb-user');
  assert.equal(keys[0].hostName, 'lb-host');
  assert.equal(keys[0].current, true);

  const wrong = restic(['-r', dir, 'cat', 'config'], 'wrong');
  assert.notEqual(wrong.status, 0);
});
