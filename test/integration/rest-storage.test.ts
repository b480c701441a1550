/**
 * The REST backend against a real restic REST server (`rclone serve restic`), with the
 * restic CLI as the oracle:
 * - the storage conformance suite, with basic auth, over API v2 and (through a proxy that
 *   plays a v1-only server) over API v1;
 * - byte-exact round trips from 0 B to 20 MiB, credentials from options and environment;
 * - append-only servers, wrong passwords (never echoed), a server that is down;
 * - restic checks and restores a repository whose files went up through our backend, and
 *   our backend lists and loads, byte for byte, a repository restic wrote through the server;
 * - fault injection (503, dropped connections, replies broken off, stalls) under withRetries.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { LifeboatError, NotFoundError } from '../../src/core/errors.ts';
import { createRestStorage } from '../../src/storage/rest/rest-storage.ts';
import { filePath, FILE_TYPES } from '../../src/storage/storage.ts';
import type { FileInfo, FileType, Handle, Storage } from '../../src/storage/storage.ts';
import { withRetries } from '../../src/storage/wrappers/retrying-storage.ts';
import { describeTree, makeCorpus, pseudoRandom } from '../support/corpus.ts';
import { startFaultProxy } from '../support/http-fault-proxy.ts';
import type { FaultProxy } from '../support/http-fault-proxy.ts';
import { freePort, LOOPBACK } from '../support/ports.ts';
import { startRcloneRestServer } from '../support/rclone.ts';
import type { RestServer } from '../support/rclone.ts';
import { missingBinaries } from '../support/require.ts';
import { resticInit, resticOk } from '../support/restic.ts';
import { tempDir } from '../support/tmp.ts';
import type { TempDir } from '../support/tmp.ts';
import { storageSuite } from '../suites/storage-suite.ts';

const USER = 'lifeboat-user';
// A password with characters that need percent-encoding in a URL, and easy to grep for.
const PASSWORD = 'p@ss:w/rd-9f3c1e';
const RESTIC_PASSWORD = 'correct horse battery staple';
/** Retries without waiting: the tests prove outcomes, not timings. */
const noWait = { sleep: async (): Promise<void> => {}, retries: 6 };

let counter = 0;
const freshPath = (): string => `repo-${process.pid}-${++counter}-${randomBytes(3).toString('hex')}`;
const randomName = (): string => randomBytes(32).toString('hex');

async function listAll(s: Storage, type: FileType): Promise<FileInfo[]> {
  const out: FileInfo[] = [];
  for await (const fi of s.list(type)) out.push(fi);
  return out;
}

/** Every string an error could show a user: message, hint, data, and the whole cause chain. */
function everythingShown(err: unknown): string {
  const parts: string[] = [];
  let cur: unknown = err;
  for (let i = 0; i < 10 && cur !== undefined && cur !== null; i++) {
    parts.push(String(cur));
    if (cur instanceof LifeboatError) parts.push(cur.hint ?? '', JSON.stringify(cur.data));
    if (cur instanceof Error) parts.push(cur.stack ?? '');
    cur = cur instanceof Error ? cur.cause : undefined;
  }
  return parts.join('\n');
}

function codeOf(err: unknown): string | undefined {
  return err instanceof LifeboatError ? err.code : undefined;
}

/** The files of a local restic repository as handles (restic's layout, data/xx/ flattened). */
async function localRepoFiles(repo: string): Promise<Handle[]> {
  const out: Handle[] = [{ type: 'config', name: '' }];
  for (const type of FILE_TYPES) {
    if (type === 'config') continue;
    const dir = path.join(repo, type);
    const entries = await readdir(dir).catch(() => [] as string[]);
    if (type !== 'data') {
      for (const name of entries) out.push({ type, name });
      continue;
    }
    for (const sub of entries) for (const name of await readdir(path.join(dir, sub))) out.push({ type, name });
  }
  return out;
}

describe('rest storage against rclone serve restic', { skip: missingBinaries('rclone') }, () => {
  let server: RestServer;
  let v1Proxy: FaultProxy;

  before(async () => {
    server = await startRcloneRestServer({ user: USER, password: PASSWORD });
    v1Proxy = await startFaultProxy(server.httpUrl);
    v1Proxy.v1 = true;
  });
  after(async () => {
    await v1Proxy?.close();
    await server?.stop();
  });

  const fixture = (via: () => string) => async () => {
    const sub = freshPath();
    return {
      storage: createRestStorage(`rest:${via().replace('://', `://${encodeURIComponent(USER)}:${encodeURIComponent(PASSWORD)}@`)}${sub}/`),
      cleanup: () => rm(path.join(server.dir, sub), { recursive: true, force: true }),
    };
  };

  // A fresh repository path per test: rclone serves any path under its root.
  storageSuite('rest API v2 (rclone, basic auth)', fixture(() => server.httpUrl));
  storageSuite('rest API v1 (a v1-only server: rclone behind a translating proxy)', fixture(() => v1Proxy.httpUrl));

  test('the v1 proxy really speaks v1, so the suite above took the HEAD-per-file path', async () => {
    const res = await fetch(`${v1Proxy.httpUrl}${freshPath()}/keys/`, {
      headers: { accept: 'application/vnd.x.restic.rest.v2', authorization: `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}` },
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/json');
    assert.deepEqual(await res.json(), []);
  });

  test('properties: the location has no credentials, defaults and options show', () => {
    const s = createRestStorage(server.repoUrl('some/where'));
    assert.equal(s.properties.location, `rest:${server.httpUrl}some/where/`);
    assert.equal(s.properties.connections, 5);
    assert.equal(s.properties.canDelete, true);
    const t = createRestStorage(`rest:${server.httpUrl}x`, { connections: 2, appendOnly: true });
    assert.equal(t.properties.location, `rest:${server.httpUrl}x/`, 'a missing trailing slash is added');
    assert.deepEqual([t.properties.connections, t.properties.canDelete], [2, false]);
  });

  test('byte-exact round trips of many sizes, 0 B to 20 MiB, whole and ranged', async () => {
    const sub = freshPath();
    const s = createRestStorage(server.repoUrl(sub));
    try {
      await s.create();
      const sizes = [0, 1, 2, 3, 255, 256, 4095, 4096, 4097, 65_535, 65_536, 65_537, (1 << 20) + 3, 8 << 20, 20 << 20];
      const files = sizes.map((size, i) => ({ h: { type: 'data', name: randomName() } as Handle, data: pseudoRandom(size, i + 1) }));
      for (const f of files) await s.save(f.h, f.data);
      const listed = new Map((await listAll(s, 'data')).map((fi) => [fi.name, fi.size]));
      for (const f of files) {
        assert.equal(listed.get(f.h.name), f.data.length, `listed size of ${f.data.length} B`);
        assert.equal((await s.stat(f.h)).size, f.data.length);
        const back = await s.load(f.h);
        assert.ok(back.equals(f.data), `${f.data.length} B differ`);
        // What the server stored on disk is byte-identical too.
        assert.ok((await readFile(path.join(server.dir, sub, filePath(f.h)))).equals(f.data), `${f.data.length} B differ on disk`);
        if (f.data.length > 2) {
          const mid = Math.floor(f.data.length / 2);
          assert.ok((await s.load(f.h, { offset: 1, length: mid })).equals(f.data.subarray(1, 1 + mid)));
          assert.ok((await s.load(f.h, { offset: mid })).equals(f.data.subarray(mid)));
        }
        // Reading from the very end to the end is empty, one byte further is short.
        assert.equal((await s.load(f.h, { offset: f.data.length })).length, 0);
        await assert.rejects(s.load(f.h, { offset: f.data.length, length: 1 }), (e: unknown) => codeOf(e) === 'short_read');
      }
    } finally {
      await rm(path.join(server.dir, sub), { recursive: true, force: true });
    }
  });

  test('credentials from options or LIFEBOAT_REST_USER / LIFEBOAT_REST_PASSWORD when the URL has none', async () => {
    const sub = freshPath();
    const bare = `rest:${server.httpUrl}${sub}/`;
    await createRestStorage(bare, { user: USER, password: PASSWORD }).create();
    const fromEnv = createRestStorage(bare, { env: { LIFEBOAT_REST_USER: USER, LIFEBOAT_REST_PASSWORD: PASSWORD } });
    const h: Handle = { type: 'keys', name: randomName() };
    await fromEnv.save(h, Buffer.from('key file'));
    assert.equal((await fromEnv.load(h)).toString(), 'key file');
    // Without any credentials the server says 401: permission_denied, not retryable.
    const none = createRestStorage(bare, { env: {} });
    await assert.rejects(none.stat(h), (e: unknown) => codeOf(e) === 'permission_denied' && !(e as LifeboatError).retryable);
    await rm(path.join(server.dir, sub), { recursive: true, force: true });
  });

  test('a wrong password is permission_denied, with a hint, and the password is never shown', async () => {
    const wrong = 'Wr0ng-S3cret-7d1a';
    const url = `rest:http://${USER}:${wrong}@${LOOPBACK}:${server.port}/${freshPath()}/`;
    const s = createRestStorage(url);
    assert.ok(!s.properties.location.includes(wrong));
    const calls: Array<[string, () => Promise<unknown>]> = [
      ['create', () => s.create()],
      ['save', () => s.save({ type: 'data', name: randomName() }, Buffer.from('x'))],
      ['load', () => s.load({ type: 'index', name: randomName() })],
      ['stat', () => s.stat({ type: 'config', name: '' })],
      ['remove', () => s.remove({ type: 'locks', name: randomName() })],
      ['list', () => listAll(s, 'snapshots')],
    ];
    for (const [op, call] of calls) {
      await assert.rejects(call(), (err: unknown) => {
        assert.ok(err instanceof LifeboatError, `${op}: ${String(err)}`);
        assert.equal(err.code, 'permission_denied', `${op}: ${err.message}`);
        assert.equal(err.retryable, false);
        assert.match(err.hint ?? '', /user and password/);
        assert.match(err.message, new RegExp(`rest:http://${LOOPBACK}:${server.port}/`));
        const shown = everythingShown(err);
        for (const secret of [wrong, PASSWORD, Buffer.from(`${USER}:${wrong}`).toString('base64')]) assert.ok(!shown.includes(secret), `${op}: a secret is shown`);
        return true;
      });
    }
  });

  test('the restic CLI checks and restores a repository uploaded through our backend', { timeout: 300_000 }, async () => {
    const tmp: TempDir = await tempDir('rest-up');
    const sub = freshPath();
    try {
      const src = path.join(tmp.path, 'src');
      const local = path.join(tmp.path, 'local-repo');
      await makeCorpus(src, { bigSize: 3 << 20 });
      await resticInit({ repo: local, password: RESTIC_PASSWORD });
      await resticOk(['backup', src], { repo: local, password: RESTIC_PASSWORD });
      const s = createRestStorage(server.repoUrl(sub));
      await s.create();
      const handles = await localRepoFiles(local);
      assert.ok(handles.filter((h) => h.type === 'data').length >= 1);
      // Upload in parallel, as a backup would.
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < handles.length) {
          const h = handles[next++] as Handle;
          await s.save(h, await readFile(path.join(local, filePath(h))));
        }
      };
      await Promise.all(Array.from({ length: s.properties.connections }, worker));
      const remote = { repo: server.repoUrl(sub), password: RESTIC_PASSWORD };
      const check = await resticOk(['check', '--read-data'], remote);
      assert.match(check.stdout, /no errors were found/);
      const target = path.join(tmp.path, 'restore');
      await resticOk(['restore', 'latest', '--target', target], remote);
      assert.deepEqual(await describeTree(path.join(target, src)), await describeTree(src));
    } finally {
      await rm(path.join(server.dir, sub), { recursive: true, force: true });
      await tmp.cleanup();
    }
  });

  test('what restic writes through the server, our backend lists and loads byte for byte', { timeout: 300_000 }, async () => {
    const tmp: TempDir = await tempDir('rest-down');
    const sub = freshPath();
    try {
      const src = path.join(tmp.path, 'src');
      await makeCorpus(src, { bigSize: 3 << 20 });
      const remote = { repo: server.repoUrl(sub), password: RESTIC_PASSWORD };
      await resticInit(remote);
      await resticOk(['backup', src], remote);
      const s = createRestStorage(server.repoUrl(sub));
      const onDisk = path.join(server.dir, sub);
      const expected = await localRepoFiles(onDisk);
      let seen = 0;
      for (const type of FILE_TYPES) {
        const listed = await listAll(s, type);
        const want = expected.filter((h) => h.type === type).map((h) => h.name).sort();
        assert.deepEqual(listed.map((f) => f.name).sort(), want, `${type}: listing`);
        for (const fi of listed) {
          const h: Handle = { type, name: fi.name };
          const bytes = await s.load(h);
          assert.equal(bytes.length, fi.size, `${type}/${fi.name}: loaded size equals listed size`);
          assert.equal((await s.stat(h)).size, fi.size);
          assert.ok(bytes.equals(await readFile(path.join(onDisk, filePath(h)))), `${type}/${fi.name}: bytes`);
          seen++;
        }
      }
      assert.ok(seen >= 4, `config, key, snapshot, index and packs: saw ${seen}`);
      // And the repository restic wrote refuses a second create.
      await assert.rejects(s.create(), (e: unknown) => codeOf(e) === 'already_exists');
    } finally {
      await rm(path.join(server.dir, sub), { recursive: true, force: true });
      await tmp.cleanup();
    }
  });

  describe('fault injection through a proxy, with withRetries', () => {
    let proxy: FaultProxy;
    let sub: string;
    let url: string;
    before(async () => {
      proxy = await startFaultProxy(server.httpUrl);
      sub = freshPath();
      url = `rest:http://${encodeURIComponent(USER)}:${encodeURIComponent(PASSWORD)}@${LOOPBACK}:${proxy.port}/${sub}/`;
      await createRestStorage(url).create();
    });
    after(async () => {
      await proxy?.close();
      await rm(path.join(server.dir, sub), { recursive: true, force: true });
    });

    for (const [label, fault] of [
      ['503 Service Unavailable', { kind: 'status', status: 503 }],
      ['429 Too Many Requests', { kind: 'status', status: 429 }],
      ['dropped connections', { kind: 'drop' }],
    ] as const) {
      test(`${label} on the first requests: every operation still completes`, async () => {
        const retried: string[] = [];
        const s = withRetries(createRestStorage(url), { ...noWait, onRetry: (err, _n, _h, info) => retried.push(`${info.op}:${err.code}`) });
        const h: Handle = { type: 'data', name: randomName() };
        const data = randomBytes(300_000);
        const faultsBefore = proxy.stats.faults;
        for (const op of ['save', 'load', 'stat', 'list', 'remove'] as const) {
          proxy.failNext(3, fault);
          if (op === 'save') await s.save(h, data);
          if (op === 'load') assert.ok((await s.load(h)).equals(data));
          if (op === 'stat') assert.equal((await s.stat(h)).size, data.length);
          if (op === 'list') assert.deepEqual((await listAll(s, 'data')).filter((f) => f.name === h.name), [{ name: h.name, size: data.length }]);
          if (op === 'remove') await s.remove(h);
        }
        assert.equal(proxy.stats.faults - faultsBefore, 15, 'every planned fault was hit');
        assert.equal(retried.length, 15);
        assert.ok(retried.every((r) => r.endsWith(':storage_unavailable')), retried.join(','));
        await assert.rejects(s.stat(h), NotFoundError);
      });
    }

    test('a reply broken off halfway is retryable, never a short or wrong result', async () => {
      const h: Handle = { type: 'index', name: randomName() };
      const data = randomBytes(200_000);
      await createRestStorage(url).save(h, data);
      proxy.failNext(1, { kind: 'truncate' }, (r) => r.method === 'GET');
      await assert.rejects(createRestStorage(url).load(h), (e: unknown) => codeOf(e) === 'storage_unavailable' && (e as LifeboatError).retryable);
      proxy.failNext(2, { kind: 'truncate' }, (r) => r.method === 'GET');
      assert.ok((await withRetries(createRestStorage(url), noWait).load(h, { offset: 7, length: 150_000 })).equals(data.subarray(7, 150_007)));
    });

    test('a stalled server hits the deadline (retryable); the caller aborting is a cancellation', async () => {
      const h: Handle = { type: 'snapshots', name: randomName() };
      await createRestStorage(url).save(h, Buffer.from('snap'));
      proxy.failNext(1, { kind: 'stall' });
      await assert.rejects(createRestStorage(url, { timeoutMs: 300 }).load(h), (err: unknown) => {
        assert.equal(codeOf(err), 'storage_unavailable');
        assert.equal((err as LifeboatError).retryable, true);
        assert.match((err as Error).message, /within 300 ms/);
        return true;
      });
      proxy.failNext(1, { kind: 'stall' });
      const ac = new AbortController();
      const stalled = proxy.stats.faults;
      const pending = createRestStorage(url).load(h, { signal: ac.signal });
      // Abort once the proxy holds the request, so the abort lands mid-request.
      while (proxy.stats.faults === stalled) await new Promise((resolve) => setTimeout(resolve, 5));
      ac.abort();
      await assert.rejects(pending, (e: unknown) => codeOf(e) === 'cancelled');
      proxy.failNext(2, { kind: 'stall' });
      assert.equal((await withRetries(createRestStorage(url, { timeoutMs: 300 }), noWait).load(h)).toString(), 'snap');
    });

    test('a reply lost after the server stored the file: the retried save succeeds', async () => {
      // The server gets the whole POST and stores it; the client sees the connection close.
      const h: Handle = { type: 'data', name: randomName() };
      const data = randomBytes(5000);
      proxy.failNext(1, { kind: 'lose-reply' }, (r) => r.method === 'POST');
      const retried: string[] = [];
      await withRetries(createRestStorage(url), { ...noWait, onRetry: (e) => retried.push(e.code) }).save(h, data);
      assert.deepEqual(retried, ['storage_unavailable']);
      assert.ok((await createRestStorage(url).load(h)).equals(data));
    });
  });

  test('an append-only server: saves work, deletes are append_only (locks excepted)', async () => {
    const ao = await startRcloneRestServer({ appendOnly: true, user: USER, password: PASSWORD });
    try {
      const sub = freshPath();
      const s = createRestStorage(ao.repoUrl(sub), { appendOnly: true });
      assert.equal(s.properties.canDelete, false);
      await s.create();
      await s.save({ type: 'config', name: '' }, Buffer.from('config'));
      const h: Handle = { type: 'data', name: randomName() };
      await s.save(h, Buffer.from('pack'));
      assert.equal((await s.load(h)).toString(), 'pack');
      await assert.rejects(s.save(h, Buffer.from('other')), (e: unknown) => codeOf(e) === 'already_exists');
      for (const type of ['data', 'index', 'snapshots', 'keys'] as const) {
        const victim: Handle = type === 'data' ? h : { type, name: randomName() };
        if (type !== 'data') await s.save(victim, Buffer.from(type));
        await assert.rejects(withRetries(s, noWait).remove(victim), (err: unknown) => {
          assert.equal(codeOf(err), 'append_only', String(err));
          assert.equal((err as LifeboatError).retryable, false);
          assert.match((err as LifeboatError).hint ?? '', /append-only/);
          return true;
        });
        assert.ok((await s.stat(victim)).size > 0, `${type} still there`);
      }
      const lock: Handle = { type: 'locks', name: randomName() };
      await s.save(lock, Buffer.from('lock'));
      await s.remove(lock);
      await assert.rejects(s.stat(lock), NotFoundError);
      await assert.rejects(s.create(), (e: unknown) => codeOf(e) === 'already_exists');
    } finally {
      await ao.stop();
    }
  });
});

describe('rest storage when the server is down', () => {
  test('a refused connection is retryable; after the retries the error names the URL, not the credentials', async () => {
    const port = await freePort();
    const url = `rest:http://${USER}:${encodeURIComponent(PASSWORD)}@${LOOPBACK}:${port}/down/`;
    const bare = createRestStorage(url);
    await assert.rejects(bare.stat({ type: 'config', name: '' }), (err: unknown) => {
      assert.equal(codeOf(err), 'storage_unavailable');
      assert.equal((err as LifeboatError).retryable, true);
      return true;
    });
    const attempts: number[] = [];
    const s = withRetries(bare, { ...noWait, retries: 3, onRetry: (_e, n) => attempts.push(n) });
    await assert.rejects(s.save({ type: 'data', name: randomName() }, Buffer.from('x')), (err: unknown) => {
      assert.ok(err instanceof LifeboatError);
      assert.equal(err.code, 'storage_unavailable');
      assert.match(err.message, new RegExp(`rest:http://${LOOPBACK}:${port}/down/`));
      assert.match(err.message, /ECONNREFUSED/);
      assert.match(err.hint ?? '', /running and reachable/);
      assert.ok(!everythingShown(err).includes(PASSWORD));
      assert.ok(!everythingShown(err).includes(encodeURIComponent(PASSWORD)));
      return true;
    });
    assert.deepEqual(attempts, [1, 2, 3]);
  });
});
