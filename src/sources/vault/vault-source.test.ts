/**
 * The vault source against a real OpenBao server on raft storage (test/support/openbao.ts):
 * the conformance suite, a drill into a second (scratch) server, verify, and the pitfalls of
 * the notes: a snapshot that loses its sealed checksum after HTTP 200, and a damaged snapshot
 * on restore that must leave the server untouched.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { gunzipSync, gzipSync } from 'node:zlib';
import { LifeboatError, SourceError } from '../../core/errors.ts';
import { compareFingerprints } from '../../core/source.ts';
import { localRunner } from '../../transport/local-runner.ts';
import { memoryArtifacts, testContext } from '../../../test/support/memory-artifacts.ts';
import { missingOpenbao, startOpenbao, type OpenbaoServer } from '../../../test/support/openbao.ts';
import { pollUntil } from '../../../test/support/ports.ts';
import { tempDir, type TempDir } from '../../../test/support/tmp.ts';
import { sourceSuite } from '../../../test/suites/source-suite.ts';
import type { VaultConfig } from './vault-config.ts';
import { vaultType } from './vault-source.ts';

const skip = await missingOpenbao();

function makeSource(bao: OpenbaoServer, tmpDir: string, extra: Partial<VaultConfig> = {}) {
  const secrets: Record<string, string> = { BAO_TOKEN: bao.rootToken, BAO_UNSEAL: `${bao.unsealKey}\n` };
  return vaultType.create('secrets', { url: bao.url, token: { env: 'BAO_TOKEN' }, canaries: ['secret/app/db'], server_bin: bao.bin, ...extra }, {
    runner: localRunner,
    secrets: async (ref) => secrets[(ref as { env: string }).env] ?? '',
    tmpDir,
  });
}

async function seed(bao: OpenbaoServer): Promise<void> {
  await bao.api('POST', '/v1/sys/mounts/secret', { type: 'kv', options: { version: '2' } });
  // A new kv v2 mount answers 400 ("upgrading…") for a moment: poll the first write.
  await pollUntil(() => bao.api('POST', '/v1/secret/data/app/db', { data: { user: 'app', password: 'hunter2' } }).then(() => true, () => false), { what: 'kv v2 mount ready' });
  await bao.api('PUT', '/v1/sys/policies/acl/app-read', { policy: 'path "secret/data/app/*" { capabilities = ["read"] }' });
  await bao.api('POST', '/v1/sys/auth/userpass', { type: 'userpass' });
}

async function wipe(bao: OpenbaoServer): Promise<void> {
  await bao.api('POST', '/v1/secret/data/app/db', { data: { user: 'app', password: 'changed' } });
  await bao.api('DELETE', '/v1/sys/policies/acl/app-read');
  await bao.api('DELETE', '/v1/sys/auth/userpass');
}

describe('vault source (OpenBao on raft)', { skip }, () => {
  sourceSuite('vault', async () => {
    const bao = await startOpenbao();
    const tmp = await tempDir('vault-suite');
    return { source: makeSource(bao, tmp.path), seed: () => seed(bao), wipe: () => wipe(bao), cleanup: async () => { await bao.stop(); await tmp.cleanup(); } };
  });

  let bao: OpenbaoServer;
  let tmp: TempDir;
  before(async () => {
    bao = await startOpenbao();
    tmp = await tempDir('vault');
    await seed(bao);
  });
  after(async () => {
    await bao?.stop();
    await tmp?.cleanup();
  });

  it('backs up a checked snapshot, verifies it, and drills it into a scratch server with fingerprints equal; no token anywhere', async () => {
    const source = makeSource(bao, tmp.path, { unseal_keys: { env: 'BAO_UNSEAL' } });
    const arts = await memoryArtifacts();
    const ctx = testContext();
    const outcome = await source.backup(arts.sink, ctx);
    assert.deepEqual(Object.keys(outcome.fingerprint).sort(), ['auth_methods', 'canaries', 'policies', 'secret_engines']);
    assert.equal((outcome.fingerprint.secret_engines as Record<string, string>)['secret/'], 'kv v2');
    assert.equal(typeof (outcome.fingerprint.canaries as Record<string, string>)['secret/app/db'], 'string');
    assert.match(outcome.commands[0] ?? '', /raft index \d+, term \d+/);

    const v = await source.verify!(arts.reader(), ctx);
    assert.deepEqual(v.problems, []);
    assert.match(v.checks[0] ?? '', /sealed checksum present/);

    const target = await source.scratchTarget!(arts.reader(), ctx);
    try {
      assert.notEqual(target.to, bao.url);
      await source.restore(arts.reader(), ctx, { to: target.to });
      const drilled = await source.fingerprint(ctx, { to: target.to });
      assert.deepEqual(compareFingerprints(outcome.fingerprint, drilled), []);
    } finally {
      await target.cleanup();
      await target.cleanup();
    }
    const text = JSON.stringify([outcome, v, ctx.infos, ctx.warnings, target.description]);
    assert.ok(!text.includes(bao.rootToken) && !text.includes(bao.unsealKey), 'a secret leaked into the outcome or the logs');
    await arts.cleanup();
  });

  it('restores into a rebuilt cluster (restore.to) with its own token, snapshot-force and the source\'s unseal keys', async () => {
    const rebuilt = await startOpenbao();
    try {
      const secrets: Record<string, string> = { BAO_TOKEN: bao.rootToken, NEW_TOKEN: rebuilt.rootToken, BAO_UNSEAL: bao.unsealKey };
      const source = vaultType.create('secrets', { url: bao.url, token: { env: 'BAO_TOKEN' }, target_token: { env: 'NEW_TOKEN' }, unseal_keys: { env: 'BAO_UNSEAL' }, canaries: ['secret/app/db'] }, {
        runner: localRunner, secrets: async (ref) => secrets[(ref as { env: string }).env] ?? '', tmpDir: tmp.path,
      });
      const arts = await memoryArtifacts();
      const out = await source.backup(arts.sink, testContext());
      await source.restore(arts.reader(), testContext(), { to: rebuilt.url });
      assert.deepEqual(compareFingerprints(out.fingerprint, await source.fingerprint(testContext(), { to: rebuilt.url })), []);
      await arts.cleanup();
    } finally {
      await rebuilt.stop();
    }
  });

  it('a drill without unseal_keys fails with a coded error naming the next step', async () => {
    const source = makeSource(bao, tmp.path);
    const arts = await memoryArtifacts();
    await source.backup(arts.sink, testContext());
    const target = await source.scratchTarget!(arts.reader(), testContext());
    try {
      await assert.rejects(source.restore(arts.reader(), testContext(), { to: target.to }), (err: unknown) => {
        assert.ok(err instanceof SourceError, String(err));
        assert.match(err.message, /sealed after the restore/);
        assert.match(err.hint ?? '', /unseal_keys/);
        return true;
      });
    } finally {
      await target.cleanup();
      await arts.cleanup();
    }
  });

  it('a damaged raft.snap is refused before the server loads anything', async () => {
    const source = makeSource(bao, tmp.path);
    const arts = await memoryArtifacts();
    const before = (await source.backup(arts.sink, testContext())).fingerprint;
    const tar = gunzipSync((await collect(arts.reader().open('raft.snap'))));
    arts.set('raft.snap', gzipSync(withoutLastEntry(tar)));
    const v = await source.verify!(arts.reader(), testContext());
    assert.match(v.problems[0] ?? '', /^raft\.snap: .*SHA256SUMS\.sealed/);
    await bao.api('DELETE', '/v1/sys/policies/acl/app-read');
    const changed = await source.fingerprint(testContext());
    await assert.rejects(source.restore(arts.reader(), testContext()), (err: unknown) => err instanceof SourceError && /raft\.snap is incomplete.*nothing was loaded/.test(err.message));
    assert.deepEqual(compareFingerprints(changed, await source.fingerprint(testContext())), [], 'the server changed');
    assert.notDeepEqual(compareFingerprints(before, changed), []);
    await bao.api('PUT', '/v1/sys/policies/acl/app-read', { policy: 'path "secret/data/app/*" { capabilities = ["read"] }' });
    await arts.cleanup();
  });

  it('refuses a snapshot the server ends without its sealed checksum after HTTP 200, and one that breaks off', async () => {
    for (const mode of ['unsealed', 'cut'] as const) {
      const proxy = await snapshotProxy(bao, mode);
      try {
        const source = makeSource(bao, tmp.path, { url: proxy.url });
        const arts = await memoryArtifacts();
        await assert.rejects(source.backup(arts.sink, testContext()), (err: unknown) => {
          assert.ok(err instanceof LifeboatError && err.code === 'source', String(err));
          assert.match(err.message, mode === 'unsealed' ? /raft snapshot is incomplete: its last entry is "SHA256SUMS"/ : /broke off|gzip|truncated/);
          return true;
        });
        assert.equal(arts.reader().list().length, 0, 'a bad snapshot was stored');
        await arts.cleanup();
      } finally {
        await proxy.close();
      }
    }
  });
});

async function collect(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of it) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

/** The tar without its last entry (SHA256SUMS.sealed), as a server failing at the seal writes it. */
function withoutLastEntry(tar: Buffer): Buffer {
  const starts: number[] = [];
  for (let off = 0; off + 512 <= tar.length;) {
    const h = tar.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    starts.push(off);
    const size = Number.parseInt(h.subarray(124, 136).toString('latin1').replace(/\0.*$/s, '').trim(), 8);
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return Buffer.concat([tar.subarray(0, starts.at(-1)), Buffer.alloc(1024)]);
}

/**
 * A proxy to the real server whose snapshot endpoint misbehaves after HTTP 200: `unsealed`
 * sends a well-formed archive without SHA256SUMS.sealed; `cut` sends half and closes.
 */
async function snapshotProxy(bao: OpenbaoServer, mode: 'unsealed' | 'cut'): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    void (async () => {
      const upstream = await fetch(`${bao.url}${req.url ?? '/'}`, { method: req.method, headers: { 'X-Vault-Token': String(req.headers['x-vault-token'] ?? '') } });
      const body = Buffer.from(await upstream.arrayBuffer());
      if (req.url !== '/v1/sys/storage/raft/snapshot') {
        res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'application/json' });
        res.end(body);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/gzip' });
      if (mode === 'unsealed') {
        res.end(gzipSync(withoutLastEntry(gunzipSync(body))));
      } else {
        res.write(body.subarray(0, body.length >> 1));
        setTimeout(() => res.destroy(), 50);
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
