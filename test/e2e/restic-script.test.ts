/**
 * A restic script (init, backup, snapshots --json, forget --prune, check, restore, exit-code
 * handling) runs unchanged with lifeboat in place of restic: the same script, run once with
 * each, ends the same way and restores the same bytes.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { LIFEBOAT_BIN } from '../support/lifeboat-cli.ts';
import { binaryPath } from '../support/binaries.ts';
import { missingBinaries } from '../support/require.ts';
import { tempDir } from '../support/tmp.ts';
import type { TempDir } from '../support/tmp.ts';

const SCRIPT = `
set -euo pipefail
$RESTIC init
$RESTIC backup "$SRC" --tag daily
echo more >> "$SRC/a.txt"
$RESTIC backup "$SRC" --tag daily
test "$($RESTIC snapshots --json | grep -o '"short_id"' | wc -l)" -eq 2
$RESTIC forget --keep-last 1 --prune
test "$($RESTIC snapshots --json | grep -o '"short_id"' | wc -l)" -eq 1
$RESTIC check
$RESTIC restore latest --target "$WORK/out"
set +e
RESTIC_PASSWORD=wrong $RESTIC snapshots >/dev/null 2>&1
rc=$?
set -e
test $rc -ne 0
echo "wrong-password-exit=$rc"
`;

describe('a restic script, unchanged', { skip: missingBinaries('restic') }, () => {
  let tmp: TempDir;
  before(async () => {
    tmp = await tempDir('restic-script');
  });
  after(() => tmp.cleanup());

  const runScript = async (name: string, restic: string): Promise<{ status: number; stdout: string; stderr: string; restored: string }> => {
    const work = path.join(tmp.path, name);
    const src = path.join(work, 'src');
    await mkdir(src, { recursive: true });
    await writeFile(path.join(src, 'a.txt'), 'a\n');
    await writeFile(path.join(src, 'b.bin'), Buffer.alloc(300_000, 9));
    const env = { PATH: process.env.PATH, HOME: tmp.path, RESTIC: restic, SRC: src, WORK: work, RESTIC_REPOSITORY: path.join(work, 'repo'), RESTIC_PASSWORD: 'script-pw', RESTIC_CACHE_DIR: path.join(work, 'cache') };
    const r = spawnSync('bash', ['-c', SCRIPT], { env, encoding: 'utf8' });
    const restored = r.status === 0 ? await readFile(path.join(work, 'out', src, 'a.txt'), 'utf8') : '';
    return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, restored };
  };

  test('ends the same way under restic 0.14 and lifeboat', async () => {
    const theirs = await runScript('restic', binaryPath('restic'));
    assert.equal(theirs.status, 0, theirs.stderr);
    const shim = path.join(tmp.path, 'lifeboat-shim');
    await writeFile(shim, `#!/bin/sh\nexec "${process.execPath}" "${LIFEBOAT_BIN}" "$@"\n`, { mode: 0o755 });
    const ours = await runScript('lifeboat', shim);
    assert.equal(ours.status, 0, ours.stderr + ours.stdout);
    assert.equal(ours.restored, 'a\nmore\n');
    assert.equal(ours.restored, theirs.restored);
    // restic 0.17+ exits 12 for a wrong password (0.14: 1); lifeboat follows the newer code.
    assert.match(ours.stdout, /wrong-password-exit=12/);
  });
});
