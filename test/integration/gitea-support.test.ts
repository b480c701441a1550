/**
 * test/support/gitea.ts on a machine without Go: the Gitea tests skip with a reason, and under
 * REQUIRE_SERVERS=1 they fail instead (the build error named), never skip silently.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { runCommand } from '../support/run-command.ts';
import { tempDir } from '../support/tmp.ts';

const SUPPORT = path.join(import.meta.dirname, '..', 'support', 'gitea.ts');
const SCRIPT = `const m = await import(${JSON.stringify(SUPPORT)}); console.log(await m.missingGitea());`;

test('without Go the Gitea tests skip, and fail under REQUIRE_SERVERS=1', async () => {
  const cache = await tempDir('gitea-nogo');
  try {
    const noGo = (process.env.PATH ?? '').split(':').filter((d) => d !== '' && !existsSync(path.join(d, 'go'))).join(':');
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: noGo, LIFEBOAT_TEST_CACHE: cache.path };
    delete env.REQUIRE_SERVERS;
    const skipped = await runCommand(process.execPath, ['--input-type=module', '-e', SCRIPT], { env, timeoutMs: 60_000 });
    assert.equal(skipped.code, 0, skipped.stderr);
    assert.match(skipped.stdout, /Gitea 1\.\d+\.\d+ cannot be built \(go, gcc and the Go module proxy are needed\)/);
    const required = await runCommand(process.execPath, ['--input-type=module', '-e', SCRIPT], { env: { ...env, REQUIRE_SERVERS: '1' }, timeoutMs: 60_000 });
    assert.notEqual(required.code, 0);
    assert.match(required.stderr, /go mod download code\.gitea\.io\/gitea@v1\.\d+\.\d+ failed/);
  } finally {
    await cache.cleanup();
  }
});
