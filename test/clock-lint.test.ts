// Time only through src/util/clock.ts: the lint rule flags the wall clock read anywhere else
// in src/, and leaves clock.ts and tests alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { ESLint } from 'eslint';

const root = fileURLToPath(new URL('..', import.meta.url));
const code = 'export const a = Date.now();\nexport const b = new Date();\nexport const c = new Date(0);\n';

async function messages(file: string): Promise<string[]> {
  const eslint = new ESLint({ cwd: root });
  const [r] = await eslint.lintText(code, { filePath: path.join(root, file) });
  return (r?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-syntax').map((m) => `${m.line}: ${m.message}`);
}

test('Date.now() and new Date() outside src/util/clock.ts fail the lint; new Date(x) does not', async () => {
  assert.deepEqual(await messages('src/ops/some-use-case.ts'), [
    '1: read the time through src/util/clock.ts (nowMs, or a Clock handed in)',
    '2: read the time through src/util/clock.ts (nowDate, or a Clock handed in)',
  ]);
  assert.deepEqual(await messages('src/util/clock.ts'), []);
  assert.deepEqual(await messages('src/ops/some-use-case.test.ts'), []);
});
