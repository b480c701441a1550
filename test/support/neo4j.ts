/**
 * A throwaway Neo4j 5 Community on random loopback ports, run from Maven Central jars
 * (org.neo4j:neo4j, org.neo4j.app:neo4j-server, org.neo4j:neo4j-dbms 5.26, Java 17).
 *
 * Install: a tiny pom in ~/.cache/lifeboat-test/neo4j-<version>/ (outside the clone, keyed by
 * version) and `mvn dependency:copy-dependencies` into lib/, under `flock`. Measured on the
 * 2-core test machine: cold about 55 s (237 jars), DBMS online about 10-25 s.
 *
 * The neo4j source stops and starts the DBMS itself (offline dumps), so the server is driven by
 * two scripts in its temp dir, as a real installation is by systemctl: `bin/neo4j-ctl start|stop`
 * (pid file, setsid so the JVM is its own process group) and `bin/neo4j-admin` (AdminTool with
 * NEO4J_HOME/NEO4J_CONF of this server). Authentication is on, with a random password set
 * through `neo4j-admin dbms set-initial-password` (stdin-free: the password is in a 0600 file).
 */
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { killGroup } from './cleanup.ts';
import { findBinary } from './binaries.ts';
import { LOOPBACK, freePort, pollUntil } from './ports.ts';
import { requireServers } from './require.ts';
import { runCommand } from './run-command.ts';
import { ServerRoot } from './server-root.ts';

export const NEO4J_VERSION = '5.26.0';

export interface Neo4jServer {
  /** http://127.0.0.1:<port> */
  url: string;
  /** bolt://127.0.0.1:<port>, for the online mode. */
  boltUrl: string;
  password: string;
  /** [<root>/bin/neo4j-admin]: the admin_command of a source. */
  adminCommand: string[];
  stopCommand: string[];
  startCommand: string[];
  /** Runs Cypher statements on a database through the HTTP API; returns each statement's rows. */
  cypher(database: string, ...statements: string[]): Promise<unknown[][][]>;
  stop(): Promise<void>;
}

const cacheDir = (): string => path.join(homedir(), '.cache', 'lifeboat-test', `neo4j-${NEO4J_VERSION}`);

const dep = (g: string, a: string): string => `<dependency><groupId>${g}</groupId><artifactId>${a}</artifactId><version>${NEO4J_VERSION}</version></dependency>`;
const POM = `<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
<groupId>lifeboat.test</groupId><artifactId>neo4j-runtime</artifactId><version>1</version><packaging>pom</packaging>
<dependencies>${dep('org.neo4j', 'neo4j')}${dep('org.neo4j.app', 'neo4j-server')}${dep('org.neo4j', 'neo4j-dbms')}</dependencies></project>
`;

export function missingNeo4j(): string | false {
  const missing = ['java', 'mvn', 'flock', 'setsid'].filter((b) => findBinary(b) === undefined);
  if (missing.length === 0) return false;
  const reason = `Neo4j needs ${missing.join(', ')} (apt-get install openjdk-17-jre-headless maven util-linux)`;
  if (requireServers) throw new Error(`REQUIRE_SERVERS=1 but ${reason}`);
  return reason;
}

export async function installNeo4j(): Promise<string> {
  const dir = cacheDir();
  if (existsSync(path.join(dir, 'complete'))) return dir;
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'pom.xml'), POM);
  const script = ['set -e', 'cd "$1"', 'test -f complete && exit 0', 'rm -rf lib', 'mvn -q -B dependency:copy-dependencies -DoutputDirectory=lib', 'touch complete'].join('\n');
  const r = await runCommand('flock', [path.join(dir, '..', `neo4j-${NEO4J_VERSION}.lock`), 'sh', '-c', script, 'sh', dir], { timeoutMs: 15 * 60_000 });
  if (r.code !== 0) throw new Error(`installing Neo4j ${NEO4J_VERSION} from Maven Central failed: ${(r.stdout + r.stderr).trim().slice(-2000)}`);
  return dir;
}

const q = (s: string): string => `'${s.replaceAll("'", "'\\''")}'`;

export async function startNeo4j(): Promise<Neo4jServer> {
  const lib = path.join(await installNeo4j(), 'lib', '*');
  const root = await ServerRoot.create('neo4j');
  const pidFile = root.path('run', 'lifeboat-test.pid');
  // The JVM is started by a script, not by us: the exit hook kills it through its pid file.
  root.entry.afterDeathSync = () => {
    try {
      killGroup(Number(readFileSync(pidFile, 'utf8')));
    } catch {
      // no pid file: the server is not running
    }
  };
  try {
    const password = `pw-${Math.random().toString(36).slice(2)}-${Date.now()}`;
    const [http, bolt] = [await freePort(), await freePort()];
    for (const d of ['conf', 'data', 'logs', 'run', 'bin']) await mkdir(root.path(d));
    await writeFile(root.path('conf', 'neo4j.conf'), [
      `server.directories.data=${root.path('data')}`,
      `server.directories.logs=${root.path('logs')}`,
      `server.directories.run=${root.path('run')}`,
      `server.default_listen_address=${LOOPBACK}`,
      `server.http.listen_address=${LOOPBACK}:${http}`,
      `server.bolt.listen_address=${LOOPBACK}:${bolt}`,
      'server.https.enabled=false',
      'server.memory.heap.max_size=384m',
      'server.memory.pagecache.size=32m',
      'dbms.usage_report.enabled=false',
      '',
    ].join('\n'));
    const env = `NEO4J_HOME=${q(root.dir)} NEO4J_CONF=${q(root.path('conf'))}`;
    const admin = root.path('bin', 'neo4j-admin');
    await writeFile(admin, `#!/bin/sh\n${env} exec java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -cp ${q(lib)} org.neo4j.cli.AdminTool "$@"\n`);
    const ctl = root.path('bin', 'neo4j-ctl');
    await writeFile(ctl, `#!/bin/sh
PID=${q(pidFile)}
case "$1" in
start)
  if [ -f "$PID" ] && kill -0 "$(cat "$PID")" 2>/dev/null; then exit 0; fi
  ${env} setsid java -Xmx384m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -cp ${q(lib)} org.neo4j.server.CommunityEntryPoint --home-dir=${q(root.dir)} --config-dir=${q(root.path('conf'))} >>${q(root.path('neo4j.out'))} 2>&1 </dev/null &
  echo $! >"$PID" ;;
stop)
  [ -f "$PID" ] || exit 0
  p=$(cat "$PID"); kill "$p" 2>/dev/null
  while kill -0 "$p" 2>/dev/null; do sleep 0.1; done
  rm -f "$PID" ;;
*) echo "usage: neo4j-ctl start|stop" >&2; exit 2 ;;
esac
`);
    await Promise.all([chmod(admin, 0o755), chmod(ctl, 0o755)]);
    const pwFile = await root.writeSecret('initial-password', password);
    const set = await runCommand('sh', ['-c', `exec "$1" dbms set-initial-password "$(cat "$2")"`, 'sh', admin, pwFile], { timeoutMs: 120_000 });
    if (set.code !== 0) throw new Error(`neo4j-admin dbms set-initial-password failed: ${set.stderr.trim().slice(-500)}`);
    const url = `http://${LOOPBACK}:${http}`;
    const authorization = `Basic ${Buffer.from(`neo4j:${password}`).toString('base64')}`;
    const cypher = async (database: string, ...statements: string[]): Promise<unknown[][][]> => {
      const res = await fetch(`${url}/db/${database}/tx/commit`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization },
        body: JSON.stringify({ statements: statements.map((statement) => ({ statement })) }),
        signal: AbortSignal.timeout(60_000),
      });
      const body = await res.json() as { results: Array<{ data: Array<{ row: unknown[] }> }>; errors: Array<{ message: string }> };
      if (body.errors.length > 0) throw new Error(`Cypher on ${database}: ${body.errors[0].message}`);
      return body.results.map((r) => r.data.map((d) => d.row));
    };
    const start = await runCommand(ctl, ['start'], { timeoutMs: 30_000 });
    if (start.code !== 0) throw new Error(`neo4j-ctl start failed: ${start.stderr}`);
    await pollUntil(async () => {
      try {
        const [rows] = await cypher('system', 'SHOW DATABASES YIELD name, currentStatus RETURN name, currentStatus');
        return rows.length >= 2 && rows.every((r) => r[1] === 'online');
      } catch {
        return false;
      }
    }, { what: `Neo4j on port ${http}`, timeoutMs: 180_000, abort: () => (existsSync(pidFile) ? undefined : 'no pid file') });
    return {
      url,
      boltUrl: `bolt://${LOOPBACK}:${bolt}`,
      password,
      adminCommand: [admin],
      stopCommand: [ctl, 'stop'],
      startCommand: [ctl, 'start'],
      cypher,
      async stop() {
        await runCommand(ctl, ['stop'], { timeoutMs: 60_000 });
        await root.stop(undefined, 'SIGKILL', 0);
      },
    };
  } catch (err) {
    await runCommand(root.path('bin', 'neo4j-ctl'), ['stop'], { timeoutMs: 60_000 }).catch(() => undefined);
    await root.stop(undefined, 'SIGKILL', 0);
    throw err;
  }
}
