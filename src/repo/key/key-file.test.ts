import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { LifeboatError, NotFoundError, WrongPasswordError } from '../../core/errors.ts';
import type { FileInfo, FileType, Handle, Storage } from '../../storage/storage.ts';
import { describeHandle } from '../../storage/storage.ts';
import { initCrypto, newMasterKey, open, seal } from '../crypto/crypto.ts';
import { addKey, listKeys, openKey, removeKey } from './key-file.ts';

/** Just enough of a Storage for key files: a map of path → bytes. */
class MapStorage implements Storage {
  readonly files = new Map<string, Buffer>();
  readonly properties = { location: 'memory:test', connections: 4, canDelete: true };
  #path = (h: Handle): string => describeHandle(h);
  async create(): Promise<void> {}
  async save(h: Handle, data: Uint8Array): Promise<void> {
    const p = this.#path(h);
    if (this.files.has(p)) throw new LifeboatError('already_exists', `${p} exists`);
    this.files.set(p, Buffer.from(data));
  }
  async load(h: Handle): Promise<Buffer> {
    const b = this.files.get(this.#path(h));
    if (b === undefined) throw new NotFoundError(`${this.#path(h)} not found`);
    return Buffer.from(b);
  }
  async stat(h: Handle): Promise<FileInfo> {
    const b = await this.load(h);
    return { name: h.name, size: b.length };
  }
  async remove(h: Handle): Promise<void> {
    if (!this.files.delete(this.#path(h))) throw new NotFoundError(`${this.#path(h)} not found`);
  }
  async *list(type: FileType): AsyncIterable<FileInfo> {
    for (const [p, b] of [...this.files]) {
      if (p.startsWith(`${type}/`)) yield { name: p.slice(type.length + 1), size: b.length };
    }
  }
  async close(): Promise<void> {}
}

const FAST = { N: 1024, r: 8, p: 1 };
const isCode = (code: string) => (err: unknown): boolean => err instanceof LifeboatError && err.code === code;

before(async () => {
  await initCrypto();
});

test('addKey writes restic-shaped JSON named by its SHA-256', async () => {
  const st = new MapStorage();
  const master = newMasterKey();
  const now = new Date('2024-05-06T07:08:09.123Z');
  const id = await addKey(st, 'pw', master, { hostname: 'h1', username: 'u1', now, scrypt: FAST });
  const bytes = st.files.get(`keys/${id}`);
  assert.ok(bytes);
  assert.equal(createHash('sha256').update(bytes).digest('hex'), id);
  const j = JSON.parse(bytes.toString()) as Record<string, unknown>;
  assert.deepEqual(Object.keys(j), ['created', 'username', 'hostname', 'kdf', 'N', 'r', 'p', 'salt', 'data']);
  assert.equal(j.created, now.toISOString());
  assert.equal(j.username, 'u1');
  assert.equal(j.hostname, 'h1');
  assert.equal(j.kdf, 'scrypt');
  assert.deepEqual([j.N, j.r, j.p], [FAST.N, FAST.r, FAST.p]);
  assert.equal(Buffer.from(j.salt as string, 'base64').length, 64);
});

test('openKey returns the master key; wrong password → WrongPasswordError', async () => {
  const st = new MapStorage();
  const master = newMasterKey();
  const id = await addKey(st, 'correct horse', master, { scrypt: FAST });
  const got = await openKey(st, 'correct horse');
  assert.equal(got.id, id);
  assert.deepEqual(got.master, master);
  // The opened key decrypts what the original sealed.
  assert.deepEqual(open(got.master, seal(master, Buffer.from('hello'))), Buffer.from('hello'));
  await assert.rejects(openKey(st, 'Correct horse'), (err: unknown) => err instanceof WrongPasswordError && err.code === 'wrong_password');
});

test('several keys: each password opens its own key file, hint or not', async () => {
  const st = new MapStorage();
  const master = newMasterKey();
  const a = await addKey(st, 'alpha', master, { scrypt: FAST });
  const b = await addKey(st, 'beta', master, { scrypt: FAST });
  assert.equal((await openKey(st, 'alpha')).id, a);
  assert.equal((await openKey(st, 'beta')).id, b);
  assert.equal((await openKey(st, 'beta', { keyHint: b.slice(0, 6) })).id, b);
  // A hint naming the other key only changes the order of trying.
  assert.equal((await openKey(st, 'beta', { keyHint: a })).id, b);
  assert.equal((await openKey(st, 'alpha', { keyHint: 'ffff' })).id, a);
});

test('damaged key files are skipped, and named when nothing opens', async () => {
  const st = new MapStorage();
  const master = newMasterKey();
  const good = await addKey(st, 'pw', master, { scrypt: FAST });
  const junkId = 'ab'.repeat(32);
  st.files.set(`keys/${junkId}`, Buffer.from('{not json'));
  st.files.set('keys/not-an-id', Buffer.from('whatever')); // ignored, like restic
  assert.equal((await openKey(st, 'pw')).id, good);
  await assert.rejects(openKey(st, 'nope'), (err: unknown) => {
    assert.ok(err instanceof WrongPasswordError);
    assert.match(err.message, /damaged/);
    assert.match(err.message, /keys\/abababab/);
    assert.doesNotMatch(err.message, /nope/);
    return true;
  });
  const infos = await listKeys(st);
  assert.equal(infos.length, 2);
  assert.ok(infos.find((k) => k.id === junkId)?.damaged);
  assert.equal(infos.find((k) => k.id === good)?.damaged, undefined);
});

test('a tampered key file does not open', async () => {
  const st = new MapStorage();
  const id = await addKey(st, 'pw', newMasterKey(), { scrypt: FAST });
  const j = JSON.parse(st.files.get(`keys/${id}`)!.toString()) as { data: string };
  const data = Buffer.from(j.data, 'base64');
  data[20] ^= 1;
  j.data = data.toString('base64');
  st.files.set(`keys/${id}`, Buffer.from(JSON.stringify(j)));
  await assert.rejects(openKey(st, 'pw'), WrongPasswordError);
});

test('empty keys/ → WrongPasswordError saying no key exists', async () => {
  await assert.rejects(openKey(new MapStorage(), 'pw'), (err: unknown) => err instanceof WrongPasswordError && /no key file/.test(err.message));
});

test('listKeys and removeKey', async () => {
  const st = new MapStorage();
  const master = newMasterKey();
  const a = await addKey(st, 'a', master, { username: 'ua', hostname: 'ha', now: new Date('2024-01-01T00:00:00Z'), scrypt: FAST });
  const b = await addKey(st, 'b', master, { username: 'ub', hostname: 'hb', now: new Date('2024-02-01T00:00:00Z'), scrypt: FAST });
  assert.deepEqual(await listKeys(st), [
    { id: a, username: 'ua', hostname: 'ha', created: '2024-01-01T00:00:00.000Z' },
    { id: b, username: 'ub', hostname: 'hb', created: '2024-02-01T00:00:00.000Z' },
  ]);
  await assert.rejects(removeKey(st, 'f'.repeat(64)), NotFoundError);
  await removeKey(st, a.slice(0, 10));
  assert.deepEqual((await listKeys(st)).map((k) => k.id), [b]);
  await assert.rejects(openKey(st, 'a'), WrongPasswordError);
  await assert.rejects(removeKey(st, b), isCode('last_key'));
});

test('cancelled signal stops openKey', async () => {
  const st = new MapStorage();
  await addKey(st, 'pw', newMasterKey(), { scrypt: FAST });
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(openKey(st, 'pw', { signal: ac.signal }), isCode('cancelled'));
});

test('addKey rejects invalid scrypt parameters', async () => {
  await assert.rejects(addKey(new MapStorage(), 'pw', newMasterKey(), { scrypt: { N: 1000, r: 8, p: 1 } }), isCode('invalid_argument'));
});
