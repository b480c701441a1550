// The layer check must fail the build on a forbidden import: run dependency-cruiser with the
// project's rules over a fixture whose util/ imports repo/, and over the real tree.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = fileURLToPath(new URL('..', import.meta.url));
const depcruise = path.join(root, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs');
const config = path.join(root, '.dependency-cruiser.cjs');

function cruise(cwd: string): { status: number | null; output: string } {
  const r = spawnSync(process.execPath, [depcruise, 'src', '--config', config, '--no-progress'], { cwd, encoding: 'utf8' });
  return { status: r.status, output: r.stdout + r.stderr };
}

test('a forbidden import (util -> repo) fails the layer check', () => {
  const r = cruise(path.join(root, 'test/fixtures/layer-breach'));
  assert.notEqual(r.status, 0, r.output);
  assert.match(r.output, /util-is-a-leaf/);
});

test('the source tree passes the layer check', () => {
  const r = cruise(root);
  assert.equal(r.status, 0, r.output);
});
