/**
 * OpenBao in a container with no network (`--network none`) through the container transport,
 * end to end through the CLI: every API request goes through a tunnel exec'd in the container
 * (one per connection, offered to lifeboat as a private unix socket). Backup streams the raft
 * snapshot, a wipe, a restore posts it back and the fingerprint (mounts, policies, a KV
 * canary) is equal; a drill starts a scratch node in the same container (a `mktemp -d` dir of
 * its /tmp, reached through the tunnel too), restores into it, and removes it afterwards.
 * The binary is the host's cached OpenBao, bind-mounted read-only.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { writeFile } from 'node:fs/promises';
import { lifeboat, lastJson as last } from '../support/lifeboat-cli.ts';
import type { StackReport as Report } from '../support/lifeboat-cli.ts';
import { pollUntil } from '../support/ports.ts';
import { startDockerEngine } from '../support/docker-engine.ts';
import type { DockerEngine } from '../support/docker-engine.ts';
import { missingOpenbao, openbaoBinary } from '../support/openbao.ts';
import { tempDir } from '../support/tmp.ts';
import type { TempDir } from '../support/tmp.ts';

const LB_PW = 'container-vault-repo-pw-4410';
const IMAGE = 'lifeboat-test/stores:1';
const STORE_IMAGE_DIR = path.join(import.meta.dirname, '..', 'fixtures', 'store-image');
const HCL = [
  'storage "raft" {\n  path = "/bao/raft"\n  node_id = "prod"\n  performance_multiplier = 1\n}',
  'listener "tcp" {\n  address = "127.0.0.1:8200"\n  cluster_address = "127.0.0.1:8201"\n  tls_disable = true\n}',
  'api_addr = "http://127.0.0.1:8200"',
  'cluster_addr = "http://127.0.0.1:8201"',
  'disable_mlock = true',
  '',
].join('\n');


describe('OpenBao in a container without a network, through the container transport', () => {
  let engine: DockerEngine | undefined;
  let tmp: TempDir;
  let token = '';
  let unsealKey = '';
  let cfg = '';
  const name = `lb-e2e-bao-${process.pid}`;

  const bao = async (args: string[], input?: string): Promise<string> => {
    const r = await (engine as DockerEngine).docker(['exec', '-i', '-e', 'BAO_TOKEN', '-e', 'BAO_ADDR=http://127.0.0.1:8200', name, '/opt/bao/bao', ...args], { input, env: { BAO_TOKEN: token } });
    assert.equal(r.code, 0, `bao ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };
  const canary = async () => JSON.parse(await bao(['kv', 'get', '-format=json', 'secret/lifeboat/canary'])).data.data as Record<string, string>;
  const run = (args: string[]) => lifeboat(['-c', cfg, ...args], { cwd: tmp.path, env: { DOCKER_HOST: (engine as DockerEngine).dockerHost, LB_PW, BAO_TOKEN: token, BAO_UNSEAL: unsealKey } });

  before(async (t) => {
    if (await missingOpenbao()) return; // the test then skips (under REQUIRE_SERVERS=1 this throws)
    engine = await startDockerEngine(t as never);
    if (!engine) return;
    await engine.ensureBaseImage();
    await engine.buildImage(STORE_IMAGE_DIR, IMAGE);
    tmp = await tempDir('container-vault');
    const binDir = path.dirname(await openbaoBinary() as string);
    const r = await engine.docker(['run', '-d', '--network', 'none', '-v', `${binDir}:/opt/bao:ro`, '--name', name, '-e', 'HCL', IMAGE, 'bash', '-c',
      'set -e; mkdir -p /bao/raft; printf %s "$HCL" > /bao/server.hcl; exec /opt/bao/bao server -config=/bao/server.hcl'], { env: { HCL } });
    assert.equal(r.code, 0, r.stderr);
    await pollUntil(async () => [0, 2].includes((await engine?.docker(['exec', '-e', 'BAO_ADDR=http://127.0.0.1:8200', name, '/opt/bao/bao', 'status']))?.code ?? -1), { timeoutMs: 60_000, what: 'OpenBao in its container' });
    const init = JSON.parse(await bao(['operator', 'init', '-key-shares=1', '-key-threshold=1', '-format=json'])) as { unseal_keys_b64: string[]; root_token: string };
    unsealKey = init.unseal_keys_b64[0] as string;
    token = init.root_token;
    await bao(['operator', 'unseal', unsealKey]);
    await pollUntil(async () => (await engine?.docker(['exec', '-e', 'BAO_ADDR=http://127.0.0.1:8200', name, '/opt/bao/bao', 'status']))?.stdout.match(/HA Mode\s+active/) !== null, { timeoutMs: 60_000, what: 'OpenBao active' });
    await bao(['secrets', 'enable', '-path=secret', 'kv-v2']);
    await bao(['kv', 'put', 'secret/lifeboat/canary', 'v=one', 'w=two']);
    await bao(['policy', 'write', 'app', '-'], 'path "secret/*" { capabilities = ["read"] }\n');
    cfg = path.join(tmp.path, 'lifeboat.yml');
    await writeFile(cfg, `
repository:
  url: ./repo
  password: { env: LB_PW }
state_dir: ./state
sources:
  secrets:
    type: vault
    container: ${name}
    url: http://127.0.0.1:8200
    token: { env: BAO_TOKEN }
    unseal_keys: { env: BAO_UNSEAL }
    canaries: [secret/lifeboat/canary]
    server_bin: /opt/bao/bao
`);
  });
  after(async () => {
    if (!engine) return;
    await engine.docker(['rm', '-f', name]);
    await engine.stop();
    await tmp?.cleanup();
  });

  test('backup, wipe, restore and drill, fingerprints equal, the scratch node removed, the token never printed', async (t) => {
    if (!engine) return t.skip('no engine');
    assert.equal((await run(['init'])).code, 0);
    const b = await run(['backup', '--json']);
    assert.equal(b.code, 0, b.stderr + b.stdout);
    assert.deepEqual(last<Report>(b).sources.map((s) => [s.source, s.status]), [['secrets', 'ok']]);

    await bao(['kv', 'put', 'secret/lifeboat/canary', 'v=wiped']);
    await bao(['policy', 'delete', 'app']);
    assert.deepEqual(await canary(), { v: 'wiped' });

    const r = await run(['restore', '--yes', '--no-safety-snapshot', '--json']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.deepEqual(last<Report>(r).sources.map((s) => [s.source, s.status, s.fingerprint_diff]), [['secrets', 'ok', []]]);
    assert.deepEqual(await canary(), { v: 'one', w: 'two' });
    assert.match(await bao(['policy', 'read', 'app']), /secret\/\*/);

    const d = await run(['drill', '--json']);
    assert.equal(d.code, 0, d.stderr + d.stdout);
    assert.deepEqual(last<Report>(d).sources.map((s) => [s.source, s.status, s.cleanup]), [['secrets', 'pass', 'done']]);
    const left = await (engine as DockerEngine).docker(['exec', name, 'sh', '-c', 'ls -d /tmp/lifeboat-vault-drill.* 2>/dev/null; ps -eo args | grep -c "[s]erver -config=/tmp/lifeboat-vault-drill" || true']);
    assert.equal(left.stdout.trim(), '0', `the scratch node or its dir was left: ${left.stdout}`);
    for (const out of [b.stdout + b.stderr, r.stdout + r.stderr, d.stdout + d.stderr]) assert.ok(!out.includes(token) && !out.includes(unsealKey), 'a secret was printed');
  });
});
