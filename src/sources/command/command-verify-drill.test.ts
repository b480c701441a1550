// verify and scratchTarget of the command source: verify reads the artifact to its end and reports
// an unreadable or missing one; a source whose commands use $LIFEBOAT_RESTORE_TO drills into a temp
// dir (restore, equal fingerprint, cleanup removes it, live store untouched); one whose commands do
// not drills read-only: no command runs, the artifact is read whole and its SHA-256 checked.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { LifeboatError, SourceError } from '../../core/errors.ts';
import type { ArtifactReader } from '../../core/source.ts';
import { compareFingerprints } from '../../core/source.ts';
import { localRunner } from '../../transport/local-runner.ts';
import { memoryArtifacts, testContext } from '../../../test/support/memory-artifacts.ts';
import { tempDir } from '../../../test/support/tmp.ts';
import { commandConfigSchema } from './command-config.ts';
import type { CommandConfig } from './command-config.ts';
import { commandType } from './command-source.ts';

async function fixture(config: Record<string, unknown>) {
  const tmp = await tempDir('command-drill');
  const data = path.join(tmp.path, 'store.bin');
  const work = path.join(tmp.path, 'work');
  await writeFile(data, randomBytes(200_000));
  const source = commandType.create('store', commandConfigSchema.parse({ ...config, env: { DATA: data } }) as CommandConfig, {
    runner: localRunner,
    secrets: async () => '',
    tmpDir: work,
  });
  const arts = await memoryArtifacts();
  const outcome = await source.backup(arts.sink, testContext());
  return {
    source, data, work, arts, fingerprint: outcome.fingerprint,
    cleanup: async () => {
      await arts.cleanup();
      await tmp.cleanup();
    },
  };
}

/** Loads into and reads from "$LIFEBOAT_RESTORE_TO/store.bin" when set, the live file otherwise. */
const PICK = 'f="$DATA"; if [ -n "$LIFEBOAT_RESTORE_TO" ]; then f="$LIFEBOAT_RESTORE_TO/store.bin"; fi;';
const DRILLABLE = {
  backup_command: `${PICK} cat "$f"`,
  restore_command: `${PICK} cat > "$f.new" && mv "$f.new" "$f"`,
  artifact: 'store.bin',
};

describe('command source: verify and drill', () => {
  test('verify reads the artifact to its end; an unreadable or missing one is a problem', async () => {
    const fx = await fixture(DRILLABLE);
    try {
      const r = await fx.source.verify!(fx.arts.reader(), testContext());
      assert.deepEqual(r.problems, []);
      assert.match(r.checks[0], /^store\.bin: artifact readable to its end \(200000 bytes\)/);

      const real = fx.arts.reader();
      const breaking: ArtifactReader = {
        list: () => real.list(),
        async *open() {
          yield Buffer.alloc(10);
          throw new Error('blob 4f2a… does not match its hash');
        },
        restoreFiles: (t) => real.restoreFiles(t),
      };
      assert.deepEqual((await fx.source.verify!(breaking, testContext())).problems, ['store.bin: cannot be read to its end: blob 4f2a… does not match its hash']);

      const two = await memoryArtifacts();
      two.set('a', Buffer.alloc(1));
      two.set('b', Buffer.alloc(1));
      assert.match((await fx.source.verify!(two.reader(), testContext())).problems[0], /the snapshot has no artifact store\.bin \(it has a, b\)/);
      await two.cleanup();
    } finally {
      await fx.cleanup();
    }
  });

  test('drill: temp dir as $LIFEBOAT_RESTORE_TO, restore, equal fingerprint, cleanup removes it, live store untouched', async () => {
    const fx = await fixture(DRILLABLE);
    try {
      const live = await readFile(fx.data);
      const ctx = testContext();
      const scratch = await fx.source.scratchTarget!(fx.arts.reader(), ctx);
      assert.equal(path.dirname(scratch.to), fx.work);
      await fx.source.restore(fx.arts.reader(), ctx, { to: scratch.to });
      assert.deepEqual(await readFile(path.join(scratch.to, 'store.bin')), live);
      assert.deepEqual(compareFingerprints(fx.fingerprint, await fx.source.fingerprint(ctx, { to: scratch.to })), []);
      await scratch.cleanup();
      await scratch.cleanup();
      await assert.rejects(stat(scratch.to), /ENOENT/);
      assert.deepEqual(await readdir(fx.work), []);
      assert.deepEqual(await readFile(fx.data), live, 'the live store is untouched');
    } finally {
      await fx.cleanup();
    }
  });

  test('a source whose commands ignore $LIFEBOAT_RESTORE_TO drills read-only: no command runs, the backup is read whole and hashed', async () => {
    const marker = 'echo ran >> "$DATA.ran";';
    const blind = await fixture({ backup_command: 'cat "$DATA"', restore_command: `${marker} cat > "$DATA"` });
    const halfway = await fixture({ ...DRILLABLE, fingerprint_command: `${marker} cksum < "$DATA"` });
    try {
      for (const fx of [blind, halfway]) {
        await rm(`${fx.data}.ran`, { force: true }); // the backup ran fingerprint_command
        const live = await readFile(fx.data);
        const ctx = testContext();
        const scratch = await fx.source.scratchTarget!(fx.arts.reader(), ctx);
        assert.match(scratch.readOnly ?? '', /not use \$LIFEBOAT_RESTORE_TO, so no command ran/);
        await fx.source.restore(fx.arts.reader(), ctx, { to: scratch.to });
        await scratch.cleanup();
        assert.deepEqual(await readFile(fx.data), live, 'the live store is untouched');
        await assert.rejects(stat(`${fx.data}.ran`), /ENOENT/, 'a command ran during a read-only drill');
        assert.deepEqual(await readdir(fx.work).catch(() => []), [], 'no scratch dir was made');
      }
      // Bytes that do not match the snapshot's SHA-256 fail the read-only drill.
      const scratch = await blind.source.scratchTarget!(blind.arts.reader(), testContext());
      blind.arts.set('stdout', Buffer.from('not the backup'));
      const real = blind.arts.reader();
      const lying: ArtifactReader = { ...real, list: () => real.list().map((a) => ({ ...a, size: 200_000, sha256: 'ab'.repeat(32) })) };
      await assert.rejects(blind.source.restore(lying, testContext(), { to: scratch.to }), (err: unknown) => {
        assert.ok(err instanceof LifeboatError && err.code === 'integrity', String(err));
        return true;
      });
      // A user's `to` is still refused for such commands: it would act on the live store.
      await assert.rejects(blind.source.restore(blind.arts.reader(), testContext(), { to: '/srv/copy' }), SourceError);
    } finally {
      await blind.cleanup();
      await halfway.cleanup();
    }
  });
});
