/**
 * A throwaway single-node Elasticsearch on a random loopback port, for the opensearch source's
 * Elasticsearch claim, run from Maven Central jars like test/support/opensearch.ts.
 *
 * Which Elasticsearch: `org.codelibs:elasticsearch-cluster-runner` ends at 7.10.2.0 on Maven
 * Central (its metadata lists no 8.x: the runner stopped when Elasticsearch left the Apache
 * licence), so this is Elasticsearch 7.10.2, the last Apache-2.0 release, which runs on the
 * machine's Java 17. Elasticsearch 8 and 9 server jars are on Maven Central
 * (org.elasticsearch:elasticsearch, org.elasticsearch.plugin:transport-netty4), but no runner
 * for them is; starting an 8.x node from bare jars has not been attempted.
 *
 * Install: a tiny pom in ~/.cache/lifeboat-test/elasticsearch-<version>/ (outside the clone,
 * keyed by version), `mvn dependency:copy-dependencies` into lib/, and a 10-line launcher
 * compiled beside it, all under `flock`. Measured on the 2-core test machine: cold 36 s
 * (36 MB of jars), node ready in about 30-45 s.
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { findBinary } from './binaries.ts';
import { ManagedProcess } from './managed-process.ts';
import type { OpenSearchServer } from './opensearch.ts';
import { LOOPBACK, pollUntil, withFreePort } from './ports.ts';
import { requireServers } from './require.ts';
import { runCommand } from './run-command.ts';
import { ServerRoot } from './server-root.ts';

export const ELASTICSEARCH_VERSION = '7.10.2';
const RUNNER_VERSION = `${ELASTICSEARCH_VERSION}.0`;

const cacheDir = (): string => path.join(homedir(), '.cache', 'lifeboat-test', `elasticsearch-${RUNNER_VERSION}`);

const POM = `<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
<groupId>lifeboat.test</groupId><artifactId>elasticsearch-runtime</artifactId><version>1</version><packaging>pom</packaging>
<dependencies><dependency><groupId>org.codelibs</groupId><artifactId>elasticsearch-cluster-runner</artifactId>
<version>${RUNNER_VERSION}</version></dependency></dependencies></project>
`;

/** The runner's main() refuses ports above 9299 and hides why a start failed; this sets path.repo and loopback too. */
const LAUNCHER = `public class LifeboatElasticsearch { public static void main(String[] a) throws Exception {
  var r = new org.codelibs.elasticsearch.runner.ElasticsearchClusterRunner();
  r.setMaxHttpPort(-1);
  String repo = System.getProperty("lifeboat.repo"), tport = System.getProperty("lifeboat.transport");
  r.onBuild((i, s) -> { s.put("network.host", "127.0.0.1"); s.put("path.repo", repo); s.put("transport.port", tport);
    s.put("discovery.type", "single-node"); s.put("cluster.routing.allocation.disk.threshold_enabled", "false"); });
  try { r.build(a); } catch (Throwable t) { t.printStackTrace(); System.exit(1); }
  System.out.println("LIFEBOAT-STARTED"); while (!r.isClosed()) Thread.sleep(1000);
}}
`;

/** Why Elasticsearch cannot run here (no java or mvn), or false. Throws under REQUIRE_SERVERS=1. */
export function missingElasticsearch(): string | false {
  const missing = ['java', 'javac', 'mvn', 'flock'].filter((b) => findBinary(b) === undefined);
  if (missing.length === 0) return false;
  const reason = `Elasticsearch needs ${missing.join(', ')} (apt-get install openjdk-17-jdk-headless maven util-linux)`;
  if (requireServers) throw new Error(`REQUIRE_SERVERS=1 but ${reason}`);
  return reason;
}

/** Installs the jars and the launcher once per version; concurrent callers wait on the lock. */
export async function installElasticsearch(): Promise<string> {
  const dir = cacheDir();
  if (existsSync(path.join(dir, 'complete'))) return dir;
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'pom.xml'), POM);
  await writeFile(path.join(dir, 'LifeboatElasticsearch.java'), LAUNCHER);
  const script = [
    'set -e', 'cd "$1"', 'test -f complete && exit 0', 'rm -rf lib classes',
    'mvn -q -B dependency:copy-dependencies -DoutputDirectory=lib',
    'mkdir classes', "javac -cp 'lib/*' -d classes LifeboatElasticsearch.java", 'touch complete',
  ].join('\n');
  const r = await runCommand('flock', [path.join(dir, '..', `elasticsearch-${RUNNER_VERSION}.lock`), 'sh', '-c', script, 'sh', dir], { timeoutMs: 15 * 60_000 });
  if (r.code !== 0) throw new Error(`installing Elasticsearch ${RUNNER_VERSION} from Maven Central failed: ${(r.stdout + r.stderr).trim().slice(-2000)}`);
  return dir;
}

async function request(url: string, method: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const res = await fetch(url, {
    method,
    headers: body === undefined ? {} : { 'content-type': typeof body === 'string' ? 'application/x-ndjson' : 'application/json' },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(120_000),
  });
  const text = await res.text();
  return { status: res.status, json: text === '' ? undefined : (JSON.parse(text) as unknown) };
}

/** Starts a node; the same handle as OpenSearch's, so the opensearch source's tests run on either. */
export async function startElasticsearch(): Promise<OpenSearchServer> {
  const home = await installElasticsearch();
  const root = await ServerRoot.create('elasticsearch');
  let proc: ManagedProcess | undefined;
  try {
    const repoDir = root.path('snapshots');
    await mkdir(repoDir);
    const { port } = await withFreePort(async (port) => {
      const transport = await withFreePort(async (p) => p);
      const args = [
        '-Xms256m', '-Xmx512m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1',
        `-Dlifeboat.repo=${repoDir}`, `-Dlifeboat.transport=${transport}`,
        '-cp', `${path.join(home, 'classes')}:${path.join(home, 'lib', '*')}`, 'LifeboatElasticsearch',
        // The runner adds the node number (1) to the base port.
        '-basePath', root.path('node'), '-numOfNode', '1', '-baseHttpPort', String(port - 1), '-clusterName', 'lifeboat-test',
      ];
      const p = new ManagedProcess('java', args, { cwd: root.dir, logFile: root.path('elasticsearch.log') });
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
        what: `Elasticsearch on port ${port}`,
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
