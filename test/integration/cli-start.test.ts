// bin/lifeboat.js executes itself once more with glibc's malloc limited to one arena (glibc
// reads that only at process start). That must stay invisible: the same process, the same
// argv and stdin, the same exit code, and a user's own GLIBC_TUNABLES left as it is.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import path from 'node:path';
import { LIFEBOAT_BIN, lifeboat, spawnLifeboat } from '../support/lifeboat-cli.ts';
import { tempDir } from '../support/tmp.ts';
import type { TempDir } from '../support/tmp.ts';

const PASSWORD = 'start-up is not a secret';
const glibc = process.platform === 'linux' && /\/libc\.so\.6$/m.test(readFileSync('/proc/self/maps', 'latin1'));
/** Whatever malloc settings the tests run with are not the ones under test. */
const NO_MALLOC_SETTINGS = { GLIBC_TUNABLES: undefined, MALLOC_ARENA_MAX: undefined };
let tmp: TempDir;
let repo: string;

before(async () => {
  tmp = await tempDir('cli-start');
  repo = path.join(tmp.path, 'repo');
  const r = await lifeboat(['-r', repo, 'init'], { password: PASSWORD });
  assert.equal(r.code, 0, r.stderr);
});
after(async () => tmp.cleanup());

/** The environment a process was started with (as the kernel keeps it), as a map. */
function environOf(pid: number): Map<string, string> {
  const env = new Map<string, string>();
  for (const kv of readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0')) {
    const i = kv.indexOf('=');
    if (i > 0) env.set(kv.slice(0, i), kv.slice(i + 1));
  }
  return env;
}

/**
 * Starts `backup --stdin`, waits until the process runs with `until` true of its environment
 * (or gives up after `waitMs`), then feeds stdin and returns that environment and the exit code.
 */
async function backupWhile(until: (env: Map<string, string>) => boolean, extraEnv: NodeJS.ProcessEnv, input: string, waitMs = 10_000) {
  const env = { ...NO_MALLOC_SETTINGS, ...extraEnv };
  const child = spawnLifeboat(['-r', repo, 'backup', '--stdin', '--stdin-filename', 'start.txt'], { password: PASSWORD, env, stdin: 'pipe' });
  assert.ok(child.stdin && child.stderr);
  const stdin = child.stdin;
  const stderr: Buffer[] = [];
  child.stderr.on('data', (b: Buffer) => stderr.push(b));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  let seen = new Map<string, string>();
  let argv: string[] = [];
  for (const end = Date.now() + waitMs; Date.now() < end; ) {
    seen = environOf(child.pid as number);
    argv = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    if (until(seen)) break;
    await sleep(50);
  }
  stdin.end(input);
  const code = await exited;
  return { seen, argv, code, stderr: Buffer.concat(stderr).toString('utf8') };
}

test('lifeboat runs with one malloc arena: the same process, argv and stdin', { skip: !glibc && 'glibc only' }, async () => {
  const { seen, argv, code, stderr } = await backupWhile((env) => env.has('GLIBC_TUNABLES'), {}, 'read after the re-exec\n');
  assert.equal(seen.get('GLIBC_TUNABLES'), 'glibc.malloc.arena_max=1');
  assert.deepEqual(argv, [process.execPath, LIFEBOAT_BIN, '-r', repo, 'backup', '--stdin', '--stdin-filename', 'start.txt']);
  assert.equal(seen.get('LIFEBOAT_PASSWORD'), PASSWORD); // still from the environment, never argv
  assert.equal(code, 0, stderr);
  const r = await lifeboat(['-r', repo, 'dump', 'latest', '/start.txt'], { password: PASSWORD });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'read after the re-exec\n');
});

test("a user's own GLIBC_TUNABLES is kept as it is", { skip: !glibc && 'glibc only' }, async () => {
  const own = 'glibc.malloc.arena_max=2';
  const { seen, code, stderr } = await backupWhile(() => false, { GLIBC_TUNABLES: own }, 'user tunables\n', 1500);
  assert.equal(seen.get('GLIBC_TUNABLES'), own);
  assert.equal(seen.has('LIFEBOAT_ARENA_SET'), false);
  assert.equal(code, 0, stderr);
});

test('programs lifeboat starts do not inherit the arena setting', { skip: !glibc && 'glibc only' }, async () => {
  // A stack source fed by a command that prints how many of those variables it was given.
  const config = path.join(tmp.path, 'lifeboat.yml');
  await writeFile(
    config,
    `repository:
  url: ./stack-repo
  password: { env: LB_PW }
state_dir: ./state
sources:
  env:
    type: command
    artifact: env.txt
    backup_command: env | grep -c -E '^(GLIBC_TUNABLES|LIFEBOAT_ARENA_SET)=' || true
    restore_command: cat > /dev/null
`,
  );
  const run = (args: string[]) => lifeboat(['-c', config, ...args], { env: { ...NO_MALLOC_SETTINGS, LB_PW: PASSWORD }, cwd: tmp.path });
  const init = await run(['init']);
  assert.equal(init.code, 0, init.stderr);
  const backup = await run(['backup']);
  assert.equal(backup.code, 0, backup.stderr);
  const out = await lifeboat(['-r', path.join(tmp.path, 'stack-repo'), 'dump', 'latest', '/env/env.txt'], { password: PASSWORD });
  assert.equal(out.code, 0, out.stderr);
  assert.equal(out.stdout.trim(), '0');
});
