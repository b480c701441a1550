/**
 * VictoriaMetrics in a container with no network (`--network none`) through the container
 * transport, end to end through the CLI: API requests through a tunnel exec'd in the
 * container; the snapshot's files listed and read there; an in-place restore with
 * stop_command/start_command run in the container (the server is not the container's main
 * process here), staged beside data_dir there and swapped in; a drill restoring into a
 * `mktemp -d` dir of the container's /tmp with a scratch server there, removed afterwards.
 * Fingerprints equal. The binary is the host's Debian victoria-metrics (the store image is the
 * same Debian release, with its libzstd), bind-mounted read-only.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { realpathSync } from 'node:fs';
import path from 'node:path';
import { writeFile } from 'node:fs/promises';
import { lifeboat, lastJson as last } from '../support/lifeboat-cli.ts';
import type { StackReport as Report } from '../support/lifeboat-cli.ts';
import { pollUntil } from '../support/ports.ts';
import { startDockerEngine } from '../support/docker-engine.ts';
import type { DockerEngine } from '../support/docker-engine.ts';
import { needBinaries } from '../support/require.ts';
import { binaryPath } from '../support/binaries.ts';
import { tempDir } from '../support/tmp.ts';
import type { TempDir } from '../support/tmp.ts';

const LB_PW = 'container-vm-repo-pw-9120';
const IMAGE = 'lifeboat-test/stores:1';
const STORE_IMAGE_DIR = path.join(import.meta.dirname, '..', 'fixtures', 'store-image');
const START = 'setsid /opt/vm/victoria-metrics -storageDataPath=/vm/data -httpListenAddr=127.0.0.1:8428 -retentionPeriod=100y >>/vm/log 2>&1 </dev/null & echo $! > /vm/pid';


describe('VictoriaMetrics in a container without a network, through the container transport', () => {
  let engine: DockerEngine | undefined;
  let tmp: TempDir;
  let cfg = '';
  const name = `lb-e2e-vm-${process.pid}`;

  /** One HTTP/1.0 request to the server from inside the container (bash /dev/tcp); the body of the answer. */
  const http = async (method: string, target: string, body = ''): Promise<string> => {
    const req = `${method} ${target} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    const r = await (engine as DockerEngine).docker(['exec', '-i', name, 'bash', '-c', 'exec 3<>/dev/tcp/127.0.0.1/8428 || exit 1; cat >&3; cat <&3'], { input: req });
    if (r.code !== 0) throw new Error(`${method} ${target}: ${r.stderr}`);
    return r.stdout.split('\r\n\r\n').slice(1).join('\r\n\r\n');
  };
  const count = async (): Promise<string> => {
    const j = JSON.parse(await http('GET', `/api/v1/query?query=${encodeURIComponent('count(count_over_time({__name__!=""}[3650d]))')}`)) as { data: { result: Array<{ value: [number, string] }> } };
    return JSON.stringify(j.data.result.map((x) => x.value[1]));
  };
  const run = (args: string[]) => lifeboat(['-c', cfg, ...args], { cwd: tmp.path, env: { DOCKER_HOST: (engine as DockerEngine).dockerHost, LB_PW } });

  before(async (t) => {
    if (!needBinaries(t as never, 'victoria-metrics')) return;
    engine = await startDockerEngine(t as never);
    if (!engine) return;
    await engine.ensureBaseImage();
    await engine.buildImage(STORE_IMAGE_DIR, IMAGE);
    tmp = await tempDir('container-vm');
    const r = await engine.docker(['run', '-d', '--network', 'none', '-v', `${realpathSync(binaryPath('victoria-metrics'))}:/opt/vm/victoria-metrics:ro`, '--name', name, IMAGE, 'bash', '-c', 'mkdir -p /vm && exec sleep infinity']);
    assert.equal(r.code, 0, r.stderr);
    const s = await engine.docker(['exec', name, 'bash', '-c', `mkdir -p /vm; ${START}`]);
    assert.equal(s.code, 0, s.stderr);
    await pollUntil(async () => (await http('GET', '/health').catch(() => '')).startsWith('OK'), { timeoutMs: 60_000, what: 'VictoriaMetrics in its container' });
    const now = Math.floor(Date.now() / 1000) - 3600;
    const lines: string[] = [];
    for (let i = 0; i < 60; i++) lines.push(`cpu_usage{host="h${i % 5}",core="${i}"} ${i} ${(now - i * 10) * 1000}`, `mem_free{host="h${i % 5}"} ${i * 2} ${(now - i * 15) * 1000}`);
    await http('POST', '/api/v1/import/prometheus', lines.join('\n'));
    await http('GET', '/internal/force_flush');
    cfg = path.join(tmp.path, 'lifeboat.yml');
    await writeFile(cfg, `
repository:
  url: ./repo
  password: { env: LB_PW }
state_dir: ./state
sources:
  metrics:
    type: victoriametrics
    container: ${name}
    url: http://127.0.0.1:8428
    data_dir: /vm/data
    server_bin: /opt/vm/victoria-metrics
    stop_command: kill -INT "$(cat /vm/pid)"
    start_command: "${START}"
`);
  });
  after(async () => {
    if (!engine) return;
    await engine.docker(['rm', '-f', name]);
    await engine.stop();
    await tmp?.cleanup();
  });

  test('backup, wipe, restore and drill, fingerprints equal, nothing left in the container', async (t) => {
    if (!engine) return t.skip('no engine or victoria-metrics');
    await pollUntil(async () => (await count()) === '["65"]', { timeoutMs: 30_000, what: 'the seeded series searchable' });
    assert.equal((await run(['init'])).code, 0);
    const b = await run(['backup', '--json']);
    assert.equal(b.code, 0, b.stderr + b.stdout);
    assert.deepEqual(last<Report>(b).sources.map((s) => [s.source, s.status]), [['metrics', 'ok']]);

    await http('POST', '/api/v1/admin/tsdb/delete_series?match[]=cpu_usage');
    assert.notEqual(await count(), '["65"]');
    const r = await run(['restore', '--yes', '--no-safety-snapshot', '--json']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.deepEqual(last<Report>(r).sources.map((s) => [s.source, s.status, s.fingerprint_diff]), [['metrics', 'ok', []]]);
    assert.equal(await count(), '["65"]');

    const d = await run(['drill', '--json']);
    assert.equal(d.code, 0, d.stderr + d.stdout);
    assert.deepEqual(last<Report>(d).sources.map((s) => [s.source, s.status, s.cleanup]), [['metrics', 'pass', 'done']]);
    const left = await (engine as DockerEngine).docker(['exec', name, 'sh', '-c', 'ls -d /tmp/lifeboat-vm-drill.* /vm/.data.lifeboat-restore-* 2>/dev/null; true']);
    assert.equal(left.stdout.trim(), '', 'a scratch or staging dir was left in the container');
  });
});
