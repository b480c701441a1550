/**
 * An S3 bucket whose server (SeaweedFS, the host's cached `weed` bind-mounted read-only) runs in
 * a container with no network (`--network none`), through the container transport, end to end
 * through the CLI: every connection of the AWS SDK goes through a tunnel exec'd in the
 * container. Backup, wipe, restore and a drill (its scratch bucket removed) with fingerprints
 * equal. The test seeds and checks the bucket through such a tunnel too: from this host the
 * server is unreachable.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { Socket } from 'node:net';
import path from 'node:path';
import { writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { DeleteObjectCommand, GetObjectCommand, ListBucketsCommand, PutObjectCommand, S3Client, CreateBucketCommand } from '@aws-sdk/client-s3';
import { openTunnelListener, type Tunnel } from '../../src/sources/net-tunnel.ts';
import { createContainerRunner } from '../../src/transport/container-runner.ts';
import { DockerApi, dockerSocketPath } from '../../src/transport/docker-api.ts';
import { lifeboat, lastJson as last } from '../support/lifeboat-cli.ts';
import type { StackReport as Report } from '../support/lifeboat-cli.ts';
import { pollUntil } from '../support/ports.ts';
import { startDockerEngine } from '../support/docker-engine.ts';
import type { DockerEngine } from '../support/docker-engine.ts';
import { seaweedBinary } from '../support/seaweedfs.ts';
import { tempDir } from '../support/tmp.ts';
import type { TempDir } from '../support/tmp.ts';

const LB_PW = 'container-s3-repo-pw-6120';
const IMAGE = 'lifeboat-test/stores:1';
const STORE_IMAGE_DIR = path.join(import.meta.dirname, '..', 'fixtures', 'store-image');
const AK = `AK${randomBytes(8).toString('hex').toUpperCase()}`;
const SK = randomBytes(20).toString('hex');
const CFG = JSON.stringify({ identities: [{ name: 'lifeboat-test', credentials: [{ accessKey: AK, secretKey: SK }], actions: ['Admin', 'Read', 'Write', 'List', 'Tagging'] }] });

describe('an S3 server in a container without a network, through the container transport', () => {
  let engine: DockerEngine | undefined;
  let tmp: TempDir;
  let cfg = '';
  let tunnel: Tunnel | undefined;
  let c: S3Client;
  const name = `lb-e2e-s3-${process.pid}`;
  const bucket = 'assets';
  const big = Buffer.alloc(300_000, 5);

  const run = (args: string[]) => lifeboat(['-c', cfg, ...args], { cwd: tmp.path, env: { DOCKER_HOST: (engine as DockerEngine).dockerHost, LB_PW, S3_AK: AK, S3_SK: SK } });
  const body = async (key: string): Promise<Buffer> => Buffer.from(await (await c.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToByteArray());
  const inContainer = async (script: string): Promise<boolean> => (await (engine as DockerEngine).docker(['exec', name, 'bash', '-c', script])).code === 0;

  before(async (t) => {
    const weed = await seaweedBinary();
    if (weed === undefined) return; // the test then skips (under REQUIRE_SERVERS=1 this throws)
    engine = await startDockerEngine(t as never);
    if (!engine) return;
    await engine.ensureBaseImage();
    await engine.buildImage(STORE_IMAGE_DIR, IMAGE);
    tmp = await tempDir('container-s3');
    const r = await engine.docker(['run', '-d', '--network', 'none', '-v', `${path.dirname(weed)}:/opt/weed:ro`, '--name', name, '-e', 'CFG', IMAGE, 'bash', '-c',
      `set -e; mkdir -p /weed/data; printf %s "$CFG" > /weed/s3.json; exec /opt/weed/${path.basename(weed)} server -ip=127.0.0.1 -ip.bind=127.0.0.1 -dir=/weed/data -s3 -s3.config=/weed/s3.json -s3.port=8333 -s3.port.iceberg=0 -s3.port.lance=0 -metricsPort=0 -volume.max=100 -master.volumeSizeLimitMB=32`], { env: { CFG } });
    assert.equal(r.code, 0, r.stderr);
    // The gateway answers, and the master assigns volumes (a bucket made before that fails with 500).
    await pollUntil(() => inContainer('exec 3<>/dev/tcp/127.0.0.1/8333 && exec 4<>/dev/tcp/127.0.0.1/9333 && printf "GET /dir/assign HTTP/1.0\\r\\n\\r\\n" >&4 && head -1 <&4 | grep -q " 200 "'), { timeoutMs: 60_000, what: 'SeaweedFS in its container' });
    const api = new DockerApi(dockerSocketPath({ DOCKER_HOST: engine.dockerHost }));
    const t1 = await openTunnelListener(createContainerRunner(api, { container: name }), '127.0.0.1', 8333, tmp.path, `container ${name}`);
    tunnel = t1;
    class Through extends http.Agent {
      override createConnection(options: object, cb?: (err: Error | null, socket: Socket) => void): Socket {
        return (http.Agent.prototype as unknown as { createConnection: (o: object, c?: unknown) => Socket }).createConnection.call(this, { ...options, path: t1.path }, cb);
      }
    }
    c = new S3Client({ endpoint: 'http://127.0.0.1:8333', region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: AK, secretAccessKey: SK }, requestHandler: { httpAgent: new Through() } });
    await c.send(new CreateBucketCommand({ Bucket: bucket }));
    await c.send(new PutObjectCommand({ Bucket: bucket, Key: 'docs/readme.txt', Body: 'hello', ContentType: 'text/plain', Metadata: { owner: 'ops' } }));
    await c.send(new PutObjectCommand({ Bucket: bucket, Key: 'images/a.bin', Body: big }));
    cfg = path.join(tmp.path, 'lifeboat.yml');
    await writeFile(cfg, `
repository:
  url: ./repo
  password: { env: LB_PW }
state_dir: ./state
sources:
  assets:
    type: s3
    container: ${name}
    endpoint: http://127.0.0.1:8333
    bucket: ${bucket}
    access_key_id: { env: S3_AK }
    secret_access_key: { env: S3_SK }
`);
  });
  after(async () => {
    c?.destroy();
    await tunnel?.close();
    if (!engine) return;
    await engine.docker(['rm', '-f', name]);
    await engine.stop();
    await tmp?.cleanup();
  });

  test('backup, wipe, restore and drill, fingerprints equal, the scratch bucket removed, the secret key never printed', async (t) => {
    if (!engine) return t.skip('no engine or SeaweedFS');
    assert.equal((await run(['init'])).code, 0);
    const b = await run(['backup', '--json']);
    assert.equal(b.code, 0, b.stderr + b.stdout);
    assert.deepEqual(last<Report>(b).sources.map((s) => [s.source, s.status]), [['assets', 'ok']]);

    await c.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'images/a.bin' }));
    await c.send(new PutObjectCommand({ Bucket: bucket, Key: 'docs/readme.txt', Body: 'changed' }));
    const r = await run(['restore', '--yes', '--no-safety-snapshot', '--json']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.deepEqual(last<Report>(r).sources.map((s) => [s.source, s.status, s.fingerprint_diff]), [['assets', 'ok', []]]);
    assert.ok((await body('images/a.bin')).equals(big));
    assert.equal((await body('docs/readme.txt')).toString(), 'hello');

    const d = await run(['drill', '--json']);
    assert.equal(d.code, 0, d.stderr + d.stdout);
    assert.deepEqual(last<Report>(d).sources.map((s) => [s.source, s.status, s.cleanup]), [['assets', 'pass', 'done']]);
    assert.deepEqual((await c.send(new ListBucketsCommand({}))).Buckets?.map((x) => x.Name), [bucket], 'the drill\'s bucket was left on the server');
    for (const out of [b.stdout + b.stderr, r.stdout + r.stderr, d.stdout + d.stderr]) assert.ok(!out.includes(SK), 'the secret key was printed');
  });
});
