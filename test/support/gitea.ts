/**
 * A throwaway Gitea on SQLite, on a random loopback port in a temp dir, with an admin user and
 * an API token.
 *
 * Gitea is built from source through the Go module proxy: `go install` refuses its module (its
 * go.mod has `replace` directives), so the module's own tree is downloaded (`go mod download`),
 * copied and built there, where the replaces apply, with CGO for SQLite. The binary and its
 * static dirs (templates, options, public: read from STATIC_ROOT_PATH, as the build has no
 * `bindata`) are cached in ~/.cache/lifeboat-test/gitea-<version>/, under a lock file; the Go
 * caches of the build (~/.cache/lifeboat-test/gitea-<version>-go/) are removed afterwards. A machine without Go or where the build fails skips the
 * tests, or fails them under REQUIRE_SERVERS=1.
 * Measured here (2 cores shared with other builds, load 13–17): cold build 24 min wall (go mod
 * download and build, 7 min of CPU), 4 min with warm Go caches; warm start 4 s (7 s for the
 * first server of a test process, which makes the migrated database template).
 *
 * Gitea refuses to run as root, so as root the server runs as an unprivileged user (RUN_USER),
 * and so do its CLI commands. The server runs under a small supervisor loop, as Gitea runs under
 * s6 in its container image: `stopCommand` / `startCommand` stop and start Gitea itself (for a
 * restore) while the supervisor, and so the test's cleanup, keeps the process group.
 */
import { randomBytes } from 'node:crypto';
import { chown, cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path, { join } from 'node:path';
import { ManagedProcess } from './managed-process.ts';
import { cachedInstall, testCacheDir } from './openbao.ts';
import { LOOPBACK, freePort, pollUntil } from './ports.ts';
import { requireServers } from './require.ts';
import { runCommand, runCommandOk, type RunResult } from './run-command.ts';
import { ServerRoot } from './server-root.ts';
import { cachedTemplate, copyTemplate } from './template-cache.ts';
import { unprivilegedUser, type UnixUser } from './unprivileged-user.ts';

export const GITEA_VERSION = '1.26.0';
const MODULE = 'code.gitea.io/gitea';
const BUILD_TIMEOUT_MS = 40 * 60_000;
/** What Gitea reads from STATIC_ROOT_PATH when built without `bindata`. */
const STATIC_DIRS = ['templates', 'options', 'public'];

async function build(tmp: string): Promise<void> {
  const goDir = `${testCacheDir(`gitea-${GITEA_VERSION}`)}-go`;
  const env = {
    ...process.env,
    GOMODCACHE: join(goDir, 'mod'),
    GOCACHE: join(goDir, 'cache'),
    GOFLAGS: '-mod=mod -modcacherw',
    CGO_ENABLED: '1',
  };
  const dl = await runCommand('go', ['mod', 'download', '-json', `${MODULE}@v${GITEA_VERSION}`], { env, cwd: '/', timeoutMs: BUILD_TIMEOUT_MS });
  const moduleDir = dl.code === 0 ? (JSON.parse(dl.stdout) as { Dir?: string }).Dir : undefined;
  if (moduleDir === undefined) throw new Error(`go mod download ${MODULE}@v${GITEA_VERSION} failed: ${(dl.stderr || dl.stdout).trim().slice(-500)}`);
  const src = join(goDir, 'src');
  await rm(src, { recursive: true, force: true });
  await cp(moduleDir, src, { recursive: true });
  await runCommand('chmod', ['-R', 'u+w', src]);
  await mkdir(join(tmp, 'static'), { recursive: true });
  for (const d of STATIC_DIRS) await cp(join(src, d), join(tmp, 'static', d), { recursive: true });
  const r = await runCommand('go', [
    'build', '-trimpath', '-tags', 'sqlite sqlite_unlock_notify',
    '-ldflags', `-s -w -X main.Version=${GITEA_VERSION}`, '-o', join(tmp, 'gitea'), '.',
  ], { env, cwd: src, timeoutMs: BUILD_TIMEOUT_MS });
  if (r.code !== 0) throw new Error(`go build of Gitea ${GITEA_VERSION} failed: ${(r.stderr || r.stdout).trim().slice(-1500)}`);
  // Only the binary and its static dirs are needed from now on; the Go caches are gigabytes.
  await rm(goDir, { recursive: true, force: true });
}

let installed: Promise<string | undefined> | undefined;

/** The cache dir holding `gitea` and `static/`, built on first use; undefined when it cannot be built. */
export function giteaInstall(): Promise<string | undefined> {
  installed ??= (async () => {
    try {
      return await cachedInstall(testCacheDir(`gitea-${GITEA_VERSION}`), build);
    } catch (err) {
      if (requireServers) throw err;
      return undefined;
    }
  })();
  return installed;
}

/** The skip reason when Gitea cannot be built (throws under REQUIRE_SERVERS=1), else false. */
export async function missingGitea(): Promise<string | false> {
  return (await giteaInstall()) === undefined ? `Gitea ${GITEA_VERSION} cannot be built (go, gcc and the Go module proxy are needed)` : false;
}

export interface GiteaServer {
  readonly url: string;
  readonly bin: string;
  /** The server's temp dir, owned by `user`: files its CLI must read go here. */
  readonly dir: string;
  readonly config: string;
  readonly workPath: string;
  /** The account Gitea runs as (RUN_USER), or undefined when not root. */
  readonly user: UnixUser | undefined;
  readonly adminUser: string;
  /** An admin API token with every scope. */
  readonly token: string;
  /** bash commands that stop Gitea (and wait until it is gone) and start it again. */
  readonly stopCommand: string;
  readonly startCommand: string;
  /** One API request with the admin token; the parsed JSON, or undefined for 204. */
  api<T = unknown>(method: string, path: string, body?: unknown): Promise<T>;
  /** The Gitea CLI with this server's config, as its user. */
  cli(args: readonly string[]): Promise<RunResult>;
  /** git in `cwd`, authenticated to this server with the admin token (through env, not argv). */
  git(cwd: string, args: readonly string[]): Promise<RunResult>;
  stop(): Promise<void>;
}

const randomKey = (): string => randomBytes(32).toString('base64url');
const ADMIN = 'lbadmin';

/** A PostgreSQL database for Gitea instead of SQLite (test/support/postgres.ts's server). */
export interface GiteaPostgres {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly database: string;
}

/** A Gitea config for `workPath` (created, given to `user` with the config) on `port`. */
async function writeAppIni(workPath: string, port: number, dist: string, user: UnixUser | undefined, pg?: GiteaPostgres): Promise<string> {
  const config = join(workPath, 'custom', 'conf', 'app.ini');
  await mkdir(join(workPath, 'custom', 'conf'), { recursive: true });
  await writeFile(config, [
    'APP_NAME = lifeboat test',
    `RUN_USER = ${user?.name ?? (process.env.USER || 'root')}`,
    'RUN_MODE = prod',
    `WORK_PATH = ${workPath}`,
    '[server]',
    `HTTP_ADDR = ${LOOPBACK}`,
    `HTTP_PORT = ${port}`,
    `ROOT_URL = http://${LOOPBACK}:${port}/`,
    'DISABLE_SSH = true',
    'START_SSH_SERVER = false',
    'OFFLINE_MODE = true',
    'LFS_START_SERVER = false',
    `APP_DATA_PATH = ${join(workPath, 'data')}`,
    `STATIC_ROOT_PATH = ${join(dist, 'static')}`,
    '[database]',
    ...(pg === undefined ? ['DB_TYPE = sqlite3', `PATH = ${join(workPath, 'data', 'gitea.db')}`] : [
      'DB_TYPE = postgres', `HOST = ${pg.host}:${pg.port}`, `NAME = ${pg.database}`, `USER = ${pg.user}`, `PASSWD = \`${pg.password}\``, 'SSL_MODE = disable',
    ]),
    '[repository]',
    // Outside the data dir, as many installs have it: the dump stores it as repos/.
    `ROOT = ${join(workPath, 'repositories')}`,
    '[security]',
    'INSTALL_LOCK = true',
    `SECRET_KEY = ${randomKey()}`,
    `INTERNAL_TOKEN = ${randomKey()}${randomKey()}`,
    '[oauth2]',
    `JWT_SECRET = ${randomKey()}`,
    '[service]',
    'DISABLE_REGISTRATION = true',
    '[mailer]',
    'ENABLED = false',
    '[cron.update_checker]',
    'ENABLED = false',
    '[log]',
    `ROOT_PATH = ${join(workPath, 'log')}`,
    'MODE = console',
    'LEVEL = warn',
    '',
  ].join('\n'), { mode: 0o600 });
  if (user !== undefined) await runCommandOk('chown', ['-R', `${user.uid}:${user.gid}`, workPath]);
  return config;
}

/**
 * A migrated SQLite database with the admin user, and the admin's token in `token`: built
 * once per test process (migrating a new database is most of Gitea's start-up time).
 */
function giteaTemplate(dist: string, user: UnixUser | undefined): Promise<string> {
  return cachedTemplate(`gitea-${user?.uid ?? 'self'}`, async (dir) => {
    await mkdir(dir);
    if (user !== undefined) {
      await chown(join(dir, '..'), user.uid, user.gid);
      await chown(dir, user.uid, user.gid);
    }
    const workPath = join(dir, 'gitea');
    const config = await writeAppIni(workPath, 3000, dist, user);
    await writeFile(join(dir, 'token'), `${await migrateWithAdmin(dist, config, workPath, user)}\n`, { mode: 0o600 });
  });
}

/** `gitea migrate` on a new database, then the admin user and its token (returned). */
async function migrateWithAdmin(dist: string, config: string, workPath: string, user: UnixUser | undefined): Promise<string> {
  const ids = user === undefined ? {} : { uid: user.uid, gid: user.gid };
  const cli = async (args: readonly string[]): Promise<string> => {
    const r = await runCommand(join(dist, 'gitea'), [...args, '--config', config, '--work-path', workPath], { env: { ...process.env, HOME: workPath }, cwd: workPath, ...ids, timeoutMs: 300_000 });
    if (r.code !== 0) throw new Error(`gitea ${args.slice(0, 3).join(' ')} failed: ${(r.stderr || r.stdout).trim().slice(-500)}`);
    return r.stdout.trim();
  };
  await cli(['migrate']);
  await cli(['admin', 'user', 'create', '--username', ADMIN, '--random-password', '--email', `${ADMIN}@example.test`, '--admin', '--must-change-password=false']);
  const token = (await cli(['admin', 'user', 'generate-access-token', '--username', ADMIN, '--token-name', 'lifeboat-test', '--scopes', 'all', '--raw'])).split('\n').pop() ?? '';
  if (!/^[0-9a-f]{40}$/.test(token)) throw new Error(`gitea admin user generate-access-token printed no token: ${token.slice(0, 80)}`);
  return token;
}

export async function startGitea(opts: { postgres?: GiteaPostgres } = {}): Promise<GiteaServer> {
  const dir = await giteaInstall();
  if (dir === undefined) throw new Error('Gitea is not built');
  const user = unprivilegedUser();
  const ids = user === undefined ? {} : { uid: user.uid, gid: user.gid };
  const root = await ServerRoot.create('gitea');
  let proc: ManagedProcess | undefined;
  try {
    // The cache is under root's 0700 home: the unprivileged user gets hard links (a copy
    // across file systems) in the server's dir.
    let dist = dir;
    if (user !== undefined) {
      await chown(root.dir, user.uid, user.gid);
      dist = root.path('dist');
      if ((await runCommand('cp', ['-al', dir, dist])).code !== 0) await runCommandOk('cp', ['-a', dir, dist]);
    }
    const bin = join(dist, 'gitea');
    const port = await freePort();
    const url = `http://${LOOPBACK}:${port}`;
    const workPath = root.path('gitea');
    const config = await writeAppIni(workPath, port, dist, user, opts.postgres);
    let token: string;
    if (opts.postgres !== undefined) {
      token = await migrateWithAdmin(dist, config, workPath, user);
    } else {
      // The migrated database with the admin and its token, made once per test process.
      const template = await giteaTemplate(dist, user);
      await mkdir(join(workPath, 'data'));
      if (user !== undefined) await chown(join(workPath, 'data'), user.uid, user.gid);
      await copyTemplate(join(template, 'gitea', 'data', 'gitea.db'), join(workPath, 'data', 'gitea.db'));
      token = (await readFile(join(template, 'token'), 'utf8')).trim();
    }
    const env = { ...process.env, HOME: workPath, GITEA_WORK_DIR: workPath };
    // The supervisor: runs Gitea unless `stopped` exists; Gitea writes its pid to gitea.pid.
    const stopped = root.path('stopped');
    const pidFile = root.path('gitea.pid');
    await writeFile(root.path('supervise.sh'), [
      'while :; do',
      `  if [ ! -e '${stopped}' ]; then '${bin}' web --config '${config}' --work-path '${workPath}' --pid '${pidFile}'; fi`,
      '  sleep 0.1',
      'done',
      '',
    ].join('\n'));
    const p = new ManagedProcess('bash', [root.path('supervise.sh')], { cwd: workPath, env, ...ids, logFile: root.path('gitea.log') });
    proc = p;
    root.adopt(p);
    const abort = (): string | undefined => (p.exitInfo === undefined ? undefined : `${p.describeExit()}\n${p.logTail()}`);
    const up = async (): Promise<boolean> => (await fetch(`${url}/api/v1/version`, { signal: AbortSignal.timeout(5000) }).catch(() => undefined))?.ok === true;
    await pollUntil(up, { what: `Gitea on port ${port}`, abort, timeoutMs: 60_000 });

    const cli = (args: readonly string[]): Promise<RunResult> =>
      runCommand(bin, [...args, '--config', config, '--work-path', workPath], { env, cwd: workPath, ...ids, timeoutMs: 120_000 });

    const api = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
      const res = await fetch(`${url}/api/v1${path}`, {
        method,
        headers: { Authorization: `token ${token}`, 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(30_000),
      });
      if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${await res.text()}`);
      return (res.status === 204 ? undefined : await res.json()) as T;
    };
    const git = (cwd: string, args: readonly string[]): Promise<RunResult> => runCommand('git', args, {
      cwd,
      timeoutMs: 60_000,
      env: {
        ...process.env,
        GIT_TERMINAL_PROMPT: '0',
        GIT_AUTHOR_NAME: 'lifeboat', GIT_AUTHOR_EMAIL: 'lifeboat@example.test',
        GIT_COMMITTER_NAME: 'lifeboat', GIT_COMMITTER_EMAIL: 'lifeboat@example.test',
        GIT_CONFIG_COUNT: '1', GIT_CONFIG_KEY_0: 'http.extraHeader', GIT_CONFIG_VALUE_0: `Authorization: token ${token}`,
      },
    });
    const q = (s: string): string => `'${s}'`;
    return {
      url,
      bin,
      dir: root.dir,
      config,
      workPath,
      user,
      adminUser: ADMIN,
      token,
      stopCommand: `touch ${q(stopped)}; pid=$(cat ${q(pidFile)} 2>/dev/null) && kill "$pid" 2>/dev/null; for i in $(seq 300); do kill -0 "$pid" 2>/dev/null || exit 0; sleep 0.1; done; exit 1`,
      startCommand: `rm -f ${q(stopped)}`,
      api,
      cli,
      git,
      stop: () => root.stop(p, 'SIGTERM', 10_000),
    };
  } catch (err) {
    await root.stop(proc, 'SIGKILL', 0);
    throw err;
  }
}

/** Awaits a command and throws with its stderr when it failed. */
export async function ok(r: Promise<{ code: number; stderr: string }>, what: string): Promise<void> {
  const res = await r;
  if (res.code !== 0) throw new Error(`${what} failed: ${res.stderr}`);
}

/** Two users, an org, a repository of the admin and a private one of the org, with commits, a branch and a tag each. */
export async function seedGitea(g: GiteaServer, work: string): Promise<void> {
  for (const u of ['alice', 'bob']) {
    await g.api('POST', '/admin/users', { username: u, email: `${u}@example.test`, password: `pw-${u}-Secret1`, must_change_password: false });
  }
  await g.api('POST', '/orgs', { username: 'ops' });
  await g.api('POST', '/user/repos', { name: 'app' });
  await g.api('POST', '/orgs/ops/repos', { name: 'infra', private: true });
  for (const repo of ['lbadmin/app', 'ops/infra']) {
    const dir = path.join(work, repo.replace('/', '-'));
    await mkdir(dir, { recursive: true });
    await ok(g.git(dir, ['init', '-q', '-b', 'main']), 'git init');
    for (const n of [1, 2]) {
      await writeFile(path.join(dir, `file${n}.txt`), `${repo} ${n}\n`);
      await ok(g.git(dir, ['add', '.']), 'git add');
      await ok(g.git(dir, ['commit', '-q', '-m', `commit ${n}`]), 'git commit');
    }
    await ok(g.git(dir, ['branch', 'feature', 'HEAD~1']), 'git branch');
    await ok(g.git(dir, ['tag', 'v1']), 'git tag');
    await ok(g.git(dir, ['push', '-q', `${g.url}/${repo}.git`, 'main', 'feature', 'v1']), `git push ${repo}`);
  }
}

/** Deletes a repository and a user and moves a branch: every part of the fingerprint changes. */
export async function wipeGitea(g: GiteaServer, work: string): Promise<void> {
  await g.api('DELETE', '/repos/ops/infra');
  await g.api('DELETE', '/admin/users/bob');
  const dir = path.join(work, 'lbadmin-app');
  await writeFile(path.join(dir, 'file3.txt'), 'after the backup\n');
  await ok(g.git(dir, ['add', '.']), 'git add');
  await ok(g.git(dir, ['commit', '-q', '-m', 'after the backup']), 'git commit');
  await ok(g.git(dir, ['push', '-q', `${g.url}/lbadmin/app.git`, 'main']), 'git push');
}
