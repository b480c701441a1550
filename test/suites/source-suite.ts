/**
 * The source conformance suite: the contract of src/core/source.ts as tests. Every adapter runs
 * it from its own test file:
 *
 *   sourceSuite('sqlite', async () => ({ source, seed, wipe, cleanup }));
 *
 * `make` returns a source over a fresh, empty store plus three helpers: `seed` writes data,
 * `wipe` changes or deletes it (anything the fingerprint must notice), `cleanup` removes what
 * the fixture created. The suite speaks only through the Source interface and memoryArtifacts,
 * so it holds for any adapter, local or against a real server.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { LifeboatError } from '../../src/core/errors.ts';
import { compareFingerprints } from '../../src/core/source.ts';
import type { Fingerprint, Source } from '../../src/core/source.ts';
import { memoryArtifacts, testContext } from '../support/memory-artifacts.ts';
import type { MemoryArtifacts } from '../support/memory-artifacts.ts';

export interface SourceFixture {
  source: Source;
  /** Writes the test data into the store. */
  seed(): Promise<void>;
  /** Deletes or changes the data so that the fingerprint differs from the seeded one. */
  wipe(): Promise<void>;
  cleanup(): Promise<void>;
}

/** Why a name is not a safe relative artifact path, or undefined when it is. */
export function unsafeArtifactName(name: string): string | undefined {
  if (name === '') return 'empty';
  if (name.includes('\0')) return 'contains NUL';
  if (name.includes('\\')) return 'contains a backslash';
  if (name.startsWith('/')) return 'absolute';
  if (name.split('/').some((seg) => seg === '' || seg === '.' || seg === '..')) return 'has an empty, "." or ".." segment';
  return undefined;
}

/** A fingerprint must survive the manifest: JSON out and back in, unchanged. */
function assertJsonStable(fp: Fingerprint): void {
  assert.deepEqual(JSON.parse(JSON.stringify(fp)), { ...fp });
}

export function sourceSuite(name: string, make: () => Promise<SourceFixture>): void {
  describe(`source conformance: ${name}`, () => {
    let fx: SourceFixture;
    let arts: MemoryArtifacts;

    beforeEach(async () => {
      fx = await make();
      arts = await memoryArtifacts();
    });
    afterEach(async () => {
      // Either may be missing when make() itself failed.
      await arts?.cleanup();
      await fx?.cleanup();
    });

    test('seed, backup, wipe, restore: fingerprints follow the data', async () => {
      const ctx = testContext();
      await fx.seed();
      const outcome = await fx.source.backup(arts.sink, ctx);
      assertJsonStable(outcome.fingerprint);
      assert.ok(arts.reader().list().length > 0 || (await hasTree(arts)), 'backup stored nothing');

      const live = await fx.source.fingerprint(ctx);
      assert.deepEqual(compareFingerprints(outcome.fingerprint, live), [], 'the live data differs from what the backup describes');

      await fx.wipe();
      const wiped = await fx.source.fingerprint(ctx);
      assert.notDeepEqual(compareFingerprints(outcome.fingerprint, wiped), [], 'the fingerprint did not notice the wipe');

      await fx.source.restore(arts.reader(), ctx);
      const restored = await fx.source.fingerprint(ctx);
      assert.deepEqual(compareFingerprints(outcome.fingerprint, restored), []);
    });

    test('artifact names are safe relative paths', async () => {
      await fx.seed();
      await fx.source.backup(arts.sink, testContext());
      for (const a of arts.reader().list()) {
        assert.equal(unsafeArtifactName(a.name), undefined, `artifact name ${JSON.stringify(a.name)} is unsafe`);
      }
    });

    test('backup with an already-aborted signal rejects', async () => {
      await fx.seed();
      const ac = new AbortController();
      ac.abort();
      await assert.rejects(fx.source.backup(arts.sink, testContext(ac.signal)), (err: unknown) => {
        assert.ok(err instanceof LifeboatError, `expected a LifeboatError, got ${String(err)}`);
        assert.ok(err.code === 'cancelled' || err.code === 'source', `unexpected code ${err.code}`);
        return true;
      });
    });
  });
}

/** The files source stores a tree, not named artifacts: a stored tree counts as output. */
async function hasTree(arts: MemoryArtifacts): Promise<boolean> {
  const dir = await mkdtemp(path.join(tmpdir(), 'lifeboat-suite-'));
  try {
    const { files } = await arts.reader().restoreFiles(dir);
    return files > 0;
  } catch {
    return false; // no tree stored
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
