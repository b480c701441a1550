/**
 * OpenSearch in a container with no network (`--network none`) through the container
 * transport, end to end through the CLI: every REST call goes through a tunnel exec'd in the
 * container, and the fs snapshot repository (path.repo inside the container) is listed, read
 * and written there with `find`, `cat` and `cat >`. Backup, wipe, restore and a drill with
 * fingerprints equal, and nothing left in path.repo. The node is the host's cached OpenSearch
 * (test/support/opensearch.ts) run by the host's JDK, both bind-mounted read-only; the test
 * reaches the node only through such a tunnel too.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { existsSync, realpathSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { openTunnelListener, type Tunnel } from '../../src/sources/net-tunnel.ts';
import { fetchThrough } from '../../src/sources/tunnel-fetch.ts';
import { createContainerRunner } from '../../src/transport/container-runner.ts';
import { DockerApi, dockerSocketPath } from '../../src/transport/docker-api.ts';
import { lifeboat, lastJson as last } from '../support/lifeboat-cli.ts';
import type { StackReport as Report } from '../support/lifeboat-cli.ts';
import { pollUntil } from '../support/ports.ts';
import { findBinary } from '../support/binaries.ts';
import { startDockerEngine } from '../support/docker-engine.ts';
import type { DockerEngine } from '../support/docker-engine.ts';
import { installOpenSearch, missingOpenSearch } from '../support/opensearch.ts';
import { tempDir } from '../support/tmp.ts';
import type { TempDir } from '../support/tmp.ts';

const LB_PW = 'container-opensearch-repo-pw-3391';
const IMAGE = 'lifeboat-test/stores:1';
const STORE_IMAGE_DIR = path.join(import.meta.dirname, '..', 'fixtures', 'store-image');

describe('OpenSearch in a container without a network, through the container transport', { skip: missingOpenSearch(), timeout: 900_000 }, () => {
  let engine: DockerEngine | undefined;
  let tmp: TempDir;
  let cfg = '';
  let tunnel: Tunnel | undefined;
  const name = `lb-e2e-os-${process.pid}`;

  const run = (args: string[]) => lifeboat(['-c', cfg, ...args], { cwd: tmp.path, env: { DOCKER_HOST: (engine as DockerEngine).dockerHost, LB_PW } });
  const api = async (method: string, p: string, body?: unknown): Promise<unknown> => {
    const res = await fetchThrough(tunnel as Tunnel)(`http://127.0.0.1:9200${p}`, {
      method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    assert.ok(res.ok, `${method} ${p}: ${res.status} ${text}`);
    return text === '' ? undefined : JSON.parse(text);
  };
  const count = async (index: string): Promise<number> => ((await api('GET', `/${index}/_count`)) as { count: number }).count;
  const snapshots = async (): Promise<string> => (await (engine as DockerEngine).docker(['exec', name, 'ls', '-A', '/snap'])).stdout.trim();

  before(async (t) => {
    const home = await installOpenSearch();
    const java = findBinary('java');
    if (java === undefined) return;
    const jdk = path.dirname(path.dirname(realpathSync(java)));
    engine = await startDockerEngine(t as never);
    if (!engine) return;
    await engine.ensureBaseImage();
    await engine.buildImage(STORE_IMAGE_DIR, IMAGE);
    tmp = await tempDir('container-opensearch');
    const mounts = ['-v', `${jdk}:${jdk}:ro`, '-v', `${home}:/opt/os:ro`];
    // Debian's JDK links some of its configuration to /etc/java-<n>-openjdk.
    const etc = `/etc/${path.basename(jdk).replace(/-(amd64|arm64)$/, '')}`;
    if (existsSync(etc)) mounts.push('-v', `${etc}:${etc}:ro`);
    const r = await engine.docker(['run', '-d', '--network', 'none', ...mounts, '--name', name, IMAGE, 'bash', '-c',
      `set -e; mkdir -p /snap /node; exec ${jdk}/bin/java -Xms256m -Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Dlifeboat.repo=/snap -Dlifeboat.transport=9300 -cp '/opt/os/classes:/opt/os/lib/*' LifeboatOpenSearch -basePath /node -numOfNode 1 -baseHttpPort 9199 -clusterName lifeboat-test`]);
    assert.equal(r.code, 0, r.stderr);
    const dockerApi = new DockerApi(dockerSocketPath({ DOCKER_HOST: engine.dockerHost }));
    tunnel = await openTunnelListener(createContainerRunner(dockerApi, { container: name }), '127.0.0.1', 9200, tmp.path, `container ${name}`);
    await pollUntil(async () => {
      const res = await fetchThrough(tunnel as Tunnel)('http://127.0.0.1:9200/_cluster/health').catch(() => undefined);
      return res?.ok === true && ['green', 'yellow'].includes(((await res.json()) as { status: string }).status);
    }, { timeoutMs: 180_000, what: 'OpenSearch in its container' });
    await api('PUT', '/books', { settings: { number_of_shards: 2, number_of_replicas: 0 }, mappings: { properties: { title: { type: 'text' } } } });
    await api('PUT', '/logs', { settings: { number_of_replicas: 0 }, mappings: { properties: { msg: { type: 'keyword' } } } });
    const lines: string[] = [];
    for (let i = 0; i < 150; i++) lines.push(JSON.stringify({ index: { _index: 'books', _id: `b${i}` } }), JSON.stringify({ title: `book ${i}` }));
    for (let i = 0; i < 20; i++) lines.push(JSON.stringify({ index: { _index: 'logs' } }), JSON.stringify({ msg: `line ${i}` }));
    await api('POST', '/_bulk?refresh=true', `${lines.join('\n')}\n`);
    cfg = path.join(tmp.path, 'lifeboat.yml');
    await writeFile(cfg, `
repository:
  url: ./repo
  password: { env: LB_PW }
state_dir: ./state
sources:
  search:
    type: opensearch
    container: ${name}
    url: http://127.0.0.1:9200
    snapshot_dir: /snap
    indices: [books, logs]
`);
  }, { timeout: 900_000 });
  after(async () => {
    await tunnel?.close();
    if (!engine) return;
    await engine.docker(['rm', '-f', name]);
    await engine.stop();
    await tmp?.cleanup();
  });

  test('backup, wipe, restore and drill, fingerprints equal, nothing left in path.repo', async (t) => {
    if (!engine) return t.skip('no engine');
    assert.equal((await run(['init'])).code, 0);
    const b = await run(['backup', '--json']);
    assert.equal(b.code, 0, b.stderr + b.stdout);
    assert.deepEqual(last<Report>(b).sources.map((s) => [s.source, s.status]), [['search', 'ok']]);
    assert.equal(await snapshots(), '', 'the snapshot repository was left in path.repo');

    await api('DELETE', '/logs');
    await api('DELETE', '/books/_doc/b7?refresh=true');
    const r = await run(['restore', '--yes', '--no-safety-snapshot', '--json']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.deepEqual(last<Report>(r).sources.map((s) => [s.source, s.status, s.fingerprint_diff]), [['search', 'ok', []]]);
    assert.deepEqual([await count('books'), await count('logs')], [150, 20]);

    const d = await run(['drill', '--json']);
    assert.equal(d.code, 0, d.stderr + d.stdout);
    assert.deepEqual(last<Report>(d).sources.map((s) => [s.source, s.status, s.cleanup]), [['search', 'pass', 'done']]);
    assert.equal(await snapshots(), '', 'a restore or drill left its repository in path.repo');
    const indices = Object.keys(await api('GET', '/_all/_settings?expand_wildcards=all&filter_path=*.settings.index.uuid') as object).filter((i) => !i.startsWith('.'));
    assert.deepEqual(indices.sort(), ['books', 'logs'], 'the drill\'s indices were left on the cluster');
  });
});
