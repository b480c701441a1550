import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IntegrityError, LifeboatError } from '../../core/errors.ts';
import { createMemoryStorage } from '../../storage/memory/memory-storage.ts';
import { Repository } from '../repository.ts';
import { loadSnapshot } from '../snapshot/snapshot.ts';
import { parseManifest } from './manifest.ts';
import { createRepositorySnapshotStore } from './repository-snapshot-store.ts';

async function* bytes(s: string): AsyncGenerator<Buffer> {
  yield Buffer.from(s);
}

test('a stack snapshot round-trips through the store: tags, safety flag, manifest version, artifact bytes', async () => {
  const repo = await Repository.init(createMemoryStorage(), 'pw', { scrypt: { N: 1024, r: 8, p: 1 } });
  const store = createRepositorySnapshotStore(repo);
  const w = store.openWriter({ name: 'db', type: 'postgres' });
  await w.put('app.dump', bytes('the dump'));
  const { snapshotId } = await w.commit({ fingerprint: { rows: 3 }, commands: ['pg_dump'] }, { tags: ['nightly'], isSafety: true });
  const raw = await loadSnapshot(repo, snapshotId);
  assert.deepEqual(raw.tags, ['lifeboat', 'source:db', 'type:postgres', 'pre-restore', 'nightly']);
  assert.deepEqual(raw.paths, ['/db']);
  const [snap, ...rest] = await store.list();
  assert.equal(rest.length, 0);
  assert.deepEqual([snap?.id, snap?.source, snap?.isSafety], [snapshotId, 'db', true]);
  const reader = await store.openReader(snap as NonNullable<typeof snap>);
  assert.equal(reader.manifest.version, 1);
  assert.deepEqual(reader.manifest.fingerprint, { rows: 3 });
  const parts: Buffer[] = [];
  for await (const c of reader.open('app.dump')) parts.push(Buffer.from(c));
  assert.equal(Buffer.concat(parts).toString(), 'the dump');
  await store.forget([snapshotId]);
  assert.deepEqual(await store.list(), []);
});

test('a manifest without a version is version 1; a newer version is refused with a code, damage as integrity', () => {
  assert.equal(parseManifest(Buffer.from('{"artifacts":[]}'), 'snapshot x').version, 1);
  assert.throws(() => parseManifest(Buffer.from('{"version":2}'), 'snapshot x'), (e: unknown) => e instanceof LifeboatError && e.code === 'unsupported_manifest' && e.hint === 'restore it with a newer lifeboat');
  assert.throws(() => parseManifest(Buffer.from('{"version":'), 'snapshot x'), IntegrityError);
  assert.throws(() => parseManifest(Buffer.from('[]'), 'snapshot x'), IntegrityError);
});
