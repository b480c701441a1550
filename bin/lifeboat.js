#!/usr/bin/env node
// lifeboat's entry point. It runs the TypeScript sources directly, which needs Node.js with
// type stripping on by default (22.18 or newer); check that first so an old Node gets one
// clear line instead of a syntax error.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(
    `lifeboat: Node.js ${process.versions.node} is too old; lifeboat needs Node.js 22.18 or newer (24 recommended).\n` +
      '  hint: inside the lifeboat checkout, run it as "npx lifeboat" to use the Node.js 24 that npm installed\n',
  );
  process.exit(2);
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
const { main } = await import('../src/cli/main.ts');
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
