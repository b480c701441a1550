// An init interrupted at any write leaves a location that a second init finishes (or refuses
// in one line with a way out), never a repository that cannot be opened. Regression test for
// a second init adding a key with a new master key beside the first init's key, after which
// whichever key an open tried first could not read the config ("config is damaged").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMemoryStorage } from '../storage/memory/memory-storage.ts';
import { withFaults } from '../storage/wrappers/faulty-storage.ts';
import type { Storage } from '../storage/storage.ts';
import { LifeboatError } from '../core/errors.ts';
import { Repository } from './repository.ts';
import { addKey } from './key/key-file.ts';
import { newMasterKey, seal } from './crypto/crypto.ts';

const scrypt = { N: 1024, r: 8, p: 1 };

async function keyCount(storage: Storage): Promise<number> {
  let n = 0;
  for await (const f of storage.list('keys')) if (f.name) n++;
  return n;
}

/** Opens, writes a blob and a snapshot-sized file, and reads them back with a fresh open. */
async function usable(storage: Storage, password: string): Promise<void> {
  const repo = await Repository.open(storage, password);
  await repo.loadIndex();
  const { id } = await repo.saveBlob('data', Buffer.from('after the interrupted init'));
  await repo.flush();
  const again = await Repository.open(storage, password);
  await again.loadIndex();
  assert.equal((await again.loadBlob('data', id)).toString(), 'after the interrupted init');
}

for (const [label, rule] of [
  ['the layout', { op: 'create', fault: { kind: 'fail', retryable: false } }],
  ['the key', { op: 'save', match: (h: { type: string }) => h.type === 'keys', fault: { kind: 'fail', retryable: false } }],
  ['the config', { op: 'save', match: (h: { type: string }) => h.type === 'config', fault: { kind: 'fail', retryable: false } }],
] as const) {
  test(`an init that fails at ${label} is finished by a second init with one key`, async () => {
    const storage = createMemoryStorage();
    await assert.rejects(Repository.init(withFaults(storage, { rules: [rule] }), 'pw', { scrypt }));
    await Repository.init(storage, 'pw', { scrypt });
    assert.equal(await keyCount(storage), 1);
    await usable(storage, 'pw');
  });
}

test('an init whose config was written but whose reply was lost: a second init refuses, the repository opens', async () => {
  const storage = createMemoryStorage();
  const lost = withFaults(storage, { rules: [{ op: 'save', match: (h) => h.type === 'config', fault: { kind: 'lose-reply' } }] });
  await assert.rejects(Repository.init(lost, 'pw', { scrypt }));
  await assert.rejects(Repository.init(storage, 'pw', { scrypt }), (err: LifeboatError) => err.code === 'already_exists');
  await usable(storage, 'pw');
});

test('leftover keys of another password: init refuses with a way out, the right password finishes it', async () => {
  const storage = createMemoryStorage();
  await assert.rejects(Repository.init(withFaults(storage, { rules: [{ op: 'save', match: (h) => h.type === 'config', fault: { kind: 'fail', retryable: false } }] }), 'first', { scrypt }));
  await assert.rejects(Repository.init(storage, 'second', { scrypt }), (err: LifeboatError) =>
    err.code === 'init_incomplete' && /did not finish/.test(err.message) && /same|first init/.test(err.hint ?? ''));
  assert.equal(await keyCount(storage), 1, 'nothing was added or removed');
  await Repository.init(storage, 'first', { scrypt });
  await usable(storage, 'first');
});

test('key files beside data but no config: init refuses and touches nothing', async () => {
  const storage = createMemoryStorage();
  await Repository.init(storage, 'pw', { scrypt });
  const repo = await Repository.open(storage, 'pw');
  await repo.saveBlob('data', Buffer.from('precious'));
  await repo.flush();
  await storage.remove({ type: 'config', name: '' });
  await assert.rejects(Repository.init(storage, 'pw', { scrypt }), (err: LifeboatError) => err.code === 'config_missing' && /restore the config/.test(err.hint ?? ''));
  assert.equal(await keyCount(storage), 1);
});

test('a repository with a stray key of the same password (left by an earlier interrupted init) opens', async () => {
  const storage = createMemoryStorage();
  await Repository.init(storage, 'pw', { scrypt });
  // Another master key under the same password, as a second init of older versions added.
  await addKey(storage, 'pw', newMasterKey(), { scrypt });
  assert.equal(await keyCount(storage), 2);
  await usable(storage, 'pw');
  // A config no key opens is still reported as damaged.
  const other = createMemoryStorage();
  await Repository.init(other, 'pw', { scrypt });
  await other.remove({ type: 'config', name: '' });
  await other.save({ type: 'config', name: '' }, seal(newMasterKey(), Buffer.from('{}')));
  await assert.rejects(Repository.open(other, 'pw'), (err: LifeboatError) => err.code === 'integrity' && /config .* is damaged/.test(err.message));
});
