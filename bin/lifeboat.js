#!/usr/bin/env node
// lifeboat's entry point. In a checkout it runs the TypeScript sources directly, which needs
// Node.js with type stripping on by default (22.18 or newer); the npm package carries the
// JavaScript of dist/ instead (Node.js does not strip types inside node_modules), and no src/.
// Check the version first so an old Node gets one clear line instead of a syntax error.
import { existsSync, readFileSync } from 'node:fs';

// src/ wins when present: a dist/ left by an earlier "npm run build" or "npm pack" in a checkout
// would otherwise run stale code after the sources change.
const isCheckout = existsSync(new URL('../src/cli/main.ts', import.meta.url));
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(
    `lifeboat: Node.js ${process.versions.node} is too old; lifeboat needs Node.js 22.18 or newer (24 recommended).\n` +
      (isCheckout
        ? '  hint: inside the lifeboat checkout, run it as "npx lifeboat" to use the Node.js 24 that npm installed\n'
        : '  hint: install Node.js 24 (or 22.18+) and run lifeboat with it, or use the container image\n'),
  );
  process.exit(2);
}
// One malloc arena for all threads (glibc). Each thread that allocates gets its own arena by
// default, and lifeboat's codec thread makes blob-sized buffers that the main thread frees (and
// the other way round), so each arena keeps the high-water mark of both threads' buffers.
// Measured on the bench corpus: peak RSS 6-20 MiB lower (backup 236 -> 216 MiB, restore
// 215 -> 202, check 159 -> 150), wall time unchanged. glibc reads this only at process start,
// so lifeboat executes itself once more with it set: the same process (pid, argv, stdio),
// about 40 ms later. A GLIBC_TUNABLES or MALLOC_ARENA_MAX of the user's own is left alone.
const ARENA_TUNABLE = 'glibc.malloc.arena_max=1';
if (process.env.LIFEBOAT_ARENA_SET === '1') {
  // Set by the line below; programs lifeboat starts (pg_dump, mysqldump...) get the user's env.
  delete process.env.GLIBC_TUNABLES;
  delete process.env.LIFEBOAT_ARENA_SET;
} else if (
  process.platform === 'linux' &&
  typeof process.execve === 'function' &&
  process.env.GLIBC_TUNABLES === undefined &&
  process.env.MALLOC_ARENA_MAX === undefined &&
  isGlibc()
) {
  try {
    process.execve(process.execPath, [process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
      ...process.env,
      GLIBC_TUNABLES: ARENA_TUNABLE,
      LIFEBOAT_ARENA_SET: '1',
    });
  } catch {
    // not allowed here (a sandbox, a permission model): run with the default arenas
  }
}

function isGlibc() {
  try {
    // Cheaper than process.report: the C library mapped into this process.
    return /\/libc\.so\.6$/m.test(readFileSync('/proc/self/maps', 'latin1'));
  } catch {
    return false;
  }
}

// Keep V8's young generation at its starting size. lifeboat's JavaScript objects are few and
// short-lived (its data lives in buffers outside the JS heap); a young generation grown to its
// 3 x 16 MiB maximum only holds dead objects longer (measured: 53 -> 30 MiB of heap, and
// faster, on a 300 MB stdin backup).
const { setFlagsFromString } = await import('node:v8');
setFlagsFromString('--semi-space-growth-factor=1');
// Cache compiled modules between runs (Node 22.1+): start-up is a large part of short commands.
const { enableCompileCache } = await import('node:module');
enableCompileCache?.();
const { main } = await import(isCheckout ? '../src/cli/main.ts' : '../dist/cli/main.js');
const controller = new AbortController();
let interrupts = 0;
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    interrupts++;
    if (interrupts > 1) process.exit(130);
    controller.abort(new Error(`received ${sig}`));
  });
}
const code = await main(process.argv.slice(2), { signal: controller.signal });
process.exitCode = code;
