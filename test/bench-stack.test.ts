// The stack and scale benches' pure parts: their sections of docs/performance.md (replaced in
// place, kept when npm run bench regenerates the page), the goal verdicts of the stack report,
// the shell composition of a parallel restore (a failing part fails the whole), and the memory
// slope. (The benches themselves are not run in the suite: they take tens of minutes.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ownedSections, writeSection } from '../bench/doc-section.ts';
import { slope } from '../bench/scale.ts';
import { combine } from '../bench/stack.ts';
import type { StackResults } from '../bench/stack.ts';
import { renderStack } from '../bench/stack-report.ts';

test('a bench section is appended once, then replaced in place; other text and sections stay', (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lifeboat-doc-section-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const doc = path.join(dir, 'performance.md');
  writeFileSync(doc, '# title\n\nbody\n');
  writeSection(doc, 'stack', 'stack v1');
  writeSection(doc, 'scale', 'scale v1');
  writeSection(doc, 'stack', 'stack v2');
  const text = readFileSync(doc, 'utf8');
  assert.equal(text, '# title\n\nbody\n\n<!-- bench:stack:start -->\nstack v2\n<!-- bench:stack:end -->\n\n<!-- bench:scale:start -->\nscale v1\n<!-- bench:scale:end -->\n');
  assert.equal(ownedSections(text), '<!-- bench:stack:start -->\nstack v2\n<!-- bench:stack:end -->\n\n<!-- bench:scale:start -->\nscale v1\n<!-- bench:scale:end -->\n');
  assert.equal(ownedSections('# generated page\n'), '');
});

test('the stack report says met or not met from the ratios, and escapes pipes in table cells', () => {
  const file = path.join(import.meta.dirname, '..', 'bench', 'results', 'stack-2026-12-07-1804.json');
  const res = JSON.parse(readFileSync(file, 'utf8')) as StackResults;
  const bare = res.steps.find((s) => s.id === 'bare-custom');
  assert.ok(bare);
  const withPg = (wallS: number): StackResults => ({ ...res, steps: res.steps.map((s) => (s.id === 'lb-pg' ? { ...s, wallS } : s)) });
  assert.match(renderStack(withPg(bare.wallS * 1.05), 'r.json'), /\*\*1\.05×\*\* on the first backup\n {2}\(\*\*met\*\*\)/);
  const slow = renderStack(withPg(bare.wallS * 1.2), 'r.json');
  assert.match(slow, /\*\*1\.20×\*\* on the first backup\n {2}\(\*\*not met\*\*\)/);
  const rows = slow.split('\n').filter((l) => l.startsWith('| ') && l.includes('pg_dump'));
  assert.ok(rows.length > 0);
  for (const r of rows) assert.doesNotMatch(r, /[^\\]\| (restic|gzip|psql|mariadb)/, r);
});

test('a parallel restore script fails when any part fails, and runs every part', (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lifeboat-combine-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const run = (script: string): number => {
    try {
      execFileSync('bash', ['-c', `set -eo pipefail\n${script}`], { stdio: 'ignore' });
      return 0;
    } catch (err) {
      return (err as { status: number }).status;
    }
  };
  const parts = [`touch ${dir}/a`, 'false', `sleep 0.2\ntouch ${dir}/c`];
  assert.notEqual(run(combine(parts, true)), 0);
  assert.deepEqual(execFileSync('ls', [dir], { encoding: 'utf8' }).trim().split('\n'), ['a', 'c']);
  assert.equal(run(combine([`true`, `echo ok | cat > /dev/null`], true)), 0);
  assert.notEqual(run(combine(['true', 'false | cat'], false)), 0);
});

test('the memory slope is the least-squares slope; flat data gives zero', () => {
  assert.equal(slope([0.25, 1], [100, 400]), 400);
  assert.equal(slope([1, 2, 3], [5, 5, 5]), 0);
  assert.ok(Math.abs(slope([1, 2, 3], [1, 3, 2]) - 0.5) < 1e-12);
});
