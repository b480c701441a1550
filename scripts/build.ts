/**
 * Builds the JavaScript that the npm package runs: Node.js strips TypeScript types only
 * outside node_modules, so an installed lifeboat cannot run src/ as the checkout does.
 * tsc compiles src/ to dist/ with the same layout (src/version.ts reads ../package.json from
 * either) and rewrites relative `.ts` import specifiers to `.js` (rewriteRelativeImportExtensions).
 * dist/ is emptied first, so a module deleted from src/ does not live on in the package.
 *
 * Usage: node scripts/build.ts   (npm run build; npm pack runs it as prepack)
 */
import { spawnSync } from 'node:child_process';
import { cpSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });
const tsc = fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url));
const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
if (r.status !== 0) {
  process.stderr.write(`build: tsc failed (exit ${r.status ?? r.signal}); dist/ is incomplete\n`);
  process.exit(1);
}
// The dashboard's static files are served as they are (no build step): copy them beside the code.
cpSync(new URL('../src/dashboard', import.meta.url), new URL('../dist/dashboard', import.meta.url), { recursive: true, filter: (f) => !f.endsWith('.ts') });
