// A `files` source with `format: faiss` (the runbooks' ./data/faiss_index folder, LangChain's
// index.faiss + index.pkl): a copy taken while the index is rewritten is taken again, one that
// never settles fails the backup (retryable), a truncated live index is refused instead of
// stored, verify parses the stored indexes, and a drill's copy fingerprints equal.
import assert from 'node:assert/strict';
import { mkdir, readFile, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { SourceError } from '../../core/errors.ts';
import { compareFingerprints } from '../../core/source.ts';
import type { ArtifactSink } from '../../core/source.ts';
import { localRunner } from '../../transport/local-runner.ts';
import { flatIndex } from '../../../test/support/faiss-files.ts';
import { memoryArtifacts, testContext } from '../../../test/support/memory-artifacts.ts';
import { tempDir } from '../../../test/support/tmp.ts';
import { filesConfigSchema } from './files-config.ts';
import { filesType } from './files-source.ts';

async function fixture(extra: Record<string, unknown> = {}) {
  const tmp = await tempDir('faiss');
  const dir = path.join(tmp.path, 'faiss_index');
  await mkdir(dir);
  await writeFile(path.join(dir, 'index.faiss'), flatIndex(8, 100));
  await writeFile(path.join(dir, 'index.pkl'), Buffer.from('docstore sidecar'));
  const config = filesConfigSchema.parse({ paths: [dir], format: 'faiss', ...extra });
  const source = filesType.create('faiss', config, { runner: localRunner, secrets: async () => '', tmpDir: path.join(tmp.path, 'work') });
  const arts = await memoryArtifacts();
  return {
    dir, source, arts, index: path.join(dir, 'index.faiss'),
    cleanup: async () => {
      await arts.cleanup();
      await tmp.cleanup();
    },
  };
}

/** A sink whose putFiles runs `during` before copying, as a writer racing the copy would. */
function racing(sink: ArtifactSink, during: (call: number) => Promise<void>): ArtifactSink & { calls: number } {
  const s = {
    calls: 0,
    put: sink.put.bind(sink),
    async putFiles(paths: readonly string[], opts?: Parameters<ArtifactSink['putFiles']>[1]) {
      s.calls++;
      await during(s.calls);
      return sink.putFiles(paths, opts);
    },
  };
  return s;
}

describe('files source, format: faiss', () => {
  test('backup fingerprints each index; verify parses it; a drill copy compares equal', async () => {
    const fx = await fixture();
    try {
      const out = await fx.source.backup(fx.arts.sink, testContext());
      assert.deepEqual(out.fingerprint.indexes, { [fx.index]: { fourcc: 'IxF2', d: 8, ntotal: 100 } });
      const v = await fx.source.verify!(fx.arts.reader(), testContext());
      assert.deepEqual(v.problems, []);
      assert.ok(v.checks.includes(`${fx.index}: FAISS IxF2 index, d=8, ntotal=100, parses`), v.checks.join('\n'));
      const scratch = await fx.source.scratchTarget!(fx.arts.reader(), testContext());
      await fx.source.restore(fx.arts.reader(), testContext(), { to: scratch.to });
      assert.deepEqual(compareFingerprints(out.fingerprint, await fx.source.fingerprint(testContext(), { to: scratch.to })), []);
      await scratch.cleanup();
    } finally {
      await fx.cleanup();
    }
  });

  test('an index rewritten during the copy is copied again, and the stored copy is the settled one', async () => {
    const fx = await fixture();
    try {
      const grown = flatIndex(8, 150);
      const ctx = testContext();
      const sink = racing(fx.arts.sink, async (call) => {
        // faiss.write_index in progress: truncated in place, then written whole.
        if (call === 1) {
          await truncate(fx.index, 0);
          await writeFile(fx.index, grown);
        }
      });
      const out = await fx.source.backup(sink, ctx);
      assert.equal(sink.calls, 2);
      assert.match(ctx.warnings.join('\n'), /index\.faiss changed while it was copied \(copy 1 of at most 3\); copying again/);
      assert.deepEqual(out.fingerprint.indexes, { [fx.index]: { fourcc: 'IxF2', d: 8, ntotal: 150 } });
      const restored = await tempDir('faiss-restored');
      await fx.arts.reader().restoreFiles(restored.path);
      assert.ok((await readFile(path.join(restored.path, fx.index))).equals(grown));
      await restored.cleanup();
    } finally {
      await fx.cleanup();
    }
  });

  test('an index that never settles fails the backup, retryable, naming it', async () => {
    const fx = await fixture();
    try {
      const sink = racing(fx.arts.sink, async (call) => writeFile(fx.index, flatIndex(8, 100 + call)));
      await assert.rejects(fx.source.backup(sink, testContext()), (err: unknown) => {
        assert.ok(err instanceof SourceError, String(err));
        assert.equal(err.message, `source faiss: ${fx.index} kept changing during 3 copies; no consistent copy was stored`);
        assert.equal(err.retryable, true);
        assert.match(err.hint ?? '', /backup\.hooks\.before/);
        return true;
      });
      assert.equal(sink.calls, 3);
    } finally {
      await fx.cleanup();
    }
  });

  test('a truncated live index (a crashed write_index) fails the backup instead of being stored as good', async () => {
    const fx = await fixture();
    try {
      await truncate(fx.index, 1000);
      await assert.rejects(fx.source.backup(fx.arts.sink, testContext()), (err: unknown) => {
        assert.ok(err instanceof SourceError, String(err));
        assert.equal(err.message, `source faiss: ${fx.index} is not a whole FAISS index: is 1000 bytes where a IxF2 index of d=8, ntotal=100 has 3245: truncated (a copy taken while it was written?)`);
        return true;
      });
    } finally {
      await fx.cleanup();
    }
  });

  test('without format the same folder is stored as before: no index parsing, one copy', async () => {
    const fx = await fixture({ format: undefined });
    try {
      await truncate(fx.index, 1000);
      const sink = racing(fx.arts.sink, async () => writeFile(fx.index, Buffer.from('changed')));
      const out = await fx.source.backup(sink, testContext());
      assert.equal(sink.calls, 1);
      assert.equal(out.fingerprint.indexes, undefined);
    } finally {
      await fx.cleanup();
    }
  });
});
