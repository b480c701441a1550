/**
 * The test command: installs what the tests need from the system's package manager (when it
 * can), runs the static checks (typecheck, lint, layer rules), then every test file.
 *
 *   npm test                 everything
 *   REQUIRE_SERVERS=1 npm test   a missing server binary fails instead of skipping (CI)
 */
import { spawn, spawnSync } from 'node:child_process';

function step(title: string, cmd: string, args: string[]): void {
  process.stdout.write(`\n== ${title}\n`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', env: process.env });
  if (r.status !== 0) {
    process.stdout.write(`\n== ${title} failed (exit ${r.status ?? r.signal})\n`);
    process.exit(r.status ?? 1);
  }
}

const node = process.execPath;
step('system dependencies', node, ['scripts/ensure-system-deps.ts']);
// n8n (10-15 min) and Gitea (a Go build) are slow to install cold: started now, detached, they
// overlap the static checks and the other test files; their tests wait on the locks
// (test/support/prefetch.ts).
spawn(node, ['test/support/prefetch.ts'], { detached: true, stdio: 'ignore' }).unref();
step('typecheck', node, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json']);
step('lint', node, ['node_modules/eslint/bin/eslint.js', '.']);
step('layers', node, ['node_modules/dependency-cruiser/bin/dependency-cruise.mjs', 'src', '--config', '.dependency-cruiser.cjs']);
step('tests', node, [
  '--test',
  '--test-concurrency=3',
  '--test-timeout=300000',
  'src/**/*.test.ts',
  'test/**/*.test.ts',
]);
