/**
 * Progress of a stack backup and restore: every source reports its bytes as they move, the last
 * report equals the bytes the run report counts, a second backup knows its expected total from
 * the first, and a restore counts up to the manifest's artifact sizes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { tempDir } from '../../test/support/tmp.ts';
import type { SourceProgress } from '../ops/run-report.ts';
import { initRepositoryAt } from './open-repository.ts';
import { backupStack, openStack, planStackRestore, restoreStack } from './stack.ts';

const PW = 'progress-pw';

test('stack backup and restore report per-source progress that ends at the run report\'s sizes', async () => {
  const tmp = await tempDir('stack-progress');
  try {
    // 3 MiB of varied bytes: several chunks, so several progress calls.
    const data = Buffer.alloc(3 << 20);
    for (let i = 0; i < data.length; i += 4) data.writeUInt32LE((i * 2654435761) >>> 0, i);
    await writeFile(path.join(tmp.path, 'data.bin'), data);
    await initRepositoryAt(`local:${tmp.path}/repo`, PW, { scrypt: { N: 1024, r: 8, p: 1 } });
    const cfg = path.join(tmp.path, 'lifeboat.yml');
    await writeFile(cfg, `
repository: { url: ./repo, password: { env: LB_PW } }
state_dir: ./state
sources:
  blob:
    type: command
    backup_command: cat ${path.join(tmp.path, 'data.bin')}
    restore_command: cat > ${path.join(tmp.path, 'restored.bin')}
`);
    const env = { LB_PW: PW, HOME: tmp.path, PATH: process.env.PATH };
    const opts = { configFile: cfg, env, signal: new AbortController().signal, log: { info: () => undefined, warn: () => undefined } };
    const stack = await openStack(opts);
    const seen: SourceProgress[] = [];
    const onSourceProgress = (p: SourceProgress) => seen.push(p);

    const first = await backupStack(stack, { ...opts, onSourceProgress });
    assert.equal(first.status, 'ok');
    const bytesRead = first.sources[0]?.bytes_read as number;
    assert.ok(bytesRead >= data.length);
    // How many reports a 3 MiB stream gives depends on how the codec thread batches its chunks
    // (one batch on a loaded machine): at least one, rising, ending at the run report's count.
    assert.ok(seen.length >= 1, 'a progress report');
    assert.ok(seen.every((p, i) => p.source === 'blob' && p.phase === 'backup' && p.total === undefined && (i === 0 || p.bytes >= (seen[i - 1] as SourceProgress).bytes)));
    // The dump, then the snapshot's manifest: the last report is what the run report counts.
    assert.equal(seen.at(-1)?.bytes, bytesRead);

    seen.length = 0;
    await backupStack(stack, { ...opts, onSourceProgress });
    assert.equal(seen.at(-1)?.total, bytesRead, 'the second backup expects the size of the first');

    seen.length = 0;
    const opened = await stack.openRepository('shared');
    try {
      const plan = await planStackRestore(stack, opened, { noSafetySnapshot: true });
      const restored = await restoreStack(stack, opened, plan, { ...opts, onSourceProgress });
      assert.equal(restored.status, 'ok');
    } finally {
      await opened.close();
    }
    assert.ok(seen.length > 1);
    assert.ok(seen.every((p) => p.phase === 'restore' && p.total === data.length));
    assert.equal(seen.at(-1)?.bytes, data.length);
  } finally {
    await tmp.cleanup();
  }
});
