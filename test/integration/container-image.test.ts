// The container image built from the repository's Dockerfile: it runs lifeboat as its
// non-root user, backs up a mounted directory into a mounted repository, and that repository
// opens on the host with the host's lifeboat (same bytes back). Needs a Docker engine
// (test/support/docker-engine.ts): skipped without one, a failure under REQUIRE_SERVERS=1.
//
// Cold (no cached image): the base image (mmdebstrap, ~1 min) and the image (~4 min);
// warm: a few seconds. Times and the image size are printed as test diagnostics.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { CHECKOUT_ROOT, copyCheckout } from '../support/checkout-copy.ts';
import { startDockerEngine } from '../support/docker-engine.ts';
import type { DockerEngine } from '../support/docker-engine.ts';
import { lifeboat } from '../support/lifeboat-cli.ts';
import { tempDir } from '../support/tmp.ts';
import type { TempDir } from '../support/tmp.ts';

const VERSION = (JSON.parse(readFileSync(path.join(CHECKOUT_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const TAG = 'lifeboat:test';
const PASSWORD = 'the image test password';
/** The image's user (Dockerfile: useradd --uid 10001). */
const IMAGE_UID = 10001;

let engine: DockerEngine | undefined;
let skipReason = 'no Docker engine';
let tmp: TempDir;

/**
 * The machine's own CA certificates (Debian keeps local ones here): a TLS-inspecting proxy on
 * the way to the npm registry is trusted inside the build as it is on the host.
 */
function localCaCerts(): string {
  const dir = '/usr/local/share/ca-certificates';
  if (!existsSync(dir)) return '';
  return readdirSync(dir)
    .filter((f) => f.endsWith('.crt'))
    .sort()
    .map((f) => readFileSync(path.join(dir, f), 'utf8').trim())
    .join('\n');
}

before(async (t) => {
  tmp = await tempDir('image');
  chmodSync(tmp.path, 0o755); // the image's user reads the mounted data below it
  engine = await startDockerEngine({ skip: (why) => (skipReason = why ?? skipReason) });
  if (engine === undefined) return;
  const t0 = Date.now();
  await engine.ensureBaseImage();
  const t1 = Date.now();
  // The context is exactly the files the image is built from: its cache key is their hash.
  const context = path.join(tmp.path, 'context');
  copyCheckout(context, /^(test|bench)\//);
  const built = await engine.buildImage(context, TAG, { buildArgs: { EXTRA_CA_CERTS: localCaCerts() } });
  const t2 = Date.now();
  const size = Number((await engine.docker(['image', 'inspect', '--format', '{{.Size}}', TAG])).stdout.trim());
  t.diagnostic(`base image ${((t1 - t0) / 1000).toFixed(1)} s, lifeboat image ${built ? 'built' : 'cached'} in ${((t2 - t1) / 1000).toFixed(1)} s, ${(size / 1e6).toFixed(0)} MB`);
});

after(async () => {
  await engine?.stop();
  await tmp?.cleanup();
});

test('the image runs lifeboat as the non-root user lifeboat, daemon by default', async (t) => {
  if (engine === undefined) return t.skip(skipReason);
  const version = await engine.docker(['run', '--rm', '--network', 'none', TAG, '--version']);
  assert.equal(version.code, 0, version.stderr);
  assert.equal(version.stdout.trim(), VERSION);
  const config = JSON.parse((await engine.docker(['image', 'inspect', '--format', '{{json .Config}}', TAG])).stdout) as {
    User: string;
    Entrypoint: string[];
    Cmd: string[];
  };
  assert.equal(config.User, 'lifeboat');
  assert.deepEqual(config.Entrypoint, ['lifeboat']);
  assert.deepEqual(config.Cmd, ['daemon']);
  const tools = await engine.docker(['run', '--rm', '--network', 'none', '--entrypoint', 'sh', TAG, '-c', 'id -u; node --version; pg_dump --version; mariadb-dump --version; redis-cli --version']);
  assert.equal(tools.code, 0, tools.stderr);
  const [uid, node] = tools.stdout.split('\n');
  assert.equal(uid, String(IMAGE_UID));
  assert.match(node as string, /^v24\./);
});

test('a backup made in the container of a mounted directory restores on the host, bytes equal', async (t) => {
  if (engine === undefined) return t.skip(skipReason);
  const data = path.join(tmp.path, 'data');
  const repo = path.join(tmp.path, 'repo');
  mkdirSync(path.join(data, 'sub'), { recursive: true, mode: 0o755 });
  const big = randomBytes(3 * 1024 * 1024);
  writeFileSync(path.join(data, 'big.bin'), big, { mode: 0o644 });
  writeFileSync(path.join(data, 'sub', 'note.txt'), 'written on the host\n', { mode: 0o644 });
  mkdirSync(repo, { mode: 0o700 });
  chownSync(repo, IMAGE_UID, IMAGE_UID);
  // The password reaches the container by name (-e NAME), its value from the CLI's environment.
  const run = (args: string[]) =>
    engine!.docker(['run', '--rm', '--network', 'none', '-e', 'LIFEBOAT_PASSWORD', '-v', `${data}:/data:ro`, '-v', `${repo}:/repo`, TAG, '-r', '/repo', ...args], {
      env: { LIFEBOAT_PASSWORD: PASSWORD },
    });
  const init = await run(['init']);
  assert.equal(init.code, 0, init.stderr);
  const backup = await run(['backup', '--host', 'in-a-container', '/data']);
  assert.equal(backup.code, 0, backup.stderr);
  const out = path.join(tmp.path, 'out');
  const restore = await lifeboat(['-r', repo, 'restore', 'latest', '--target', out], { password: PASSWORD });
  assert.equal(restore.code, 0, restore.stderr);
  assert.ok((await readFile(path.join(out, 'data', 'big.bin'))).equals(big));
  assert.equal(await readFile(path.join(out, 'data', 'sub', 'note.txt'), 'utf8'), 'written on the host\n');
  const check = await lifeboat(['-r', repo, 'check'], { password: PASSWORD });
  assert.equal(check.code, 0, check.stderr);
});
