import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { LifeboatError, NotFoundError, UsageError } from '../../core/errors.ts';
import { storageSuite } from '../../../test/suites/storage-suite.ts';
import type { FileInfo, Handle, Storage } from '../storage.ts';
import { httpStatusError } from './rest-errors.ts';
import { createRestStorage, parseContentRange, REST_V2 } from './rest-storage.ts';
import { parseRestUrl, redact } from './rest-url.ts';

/**
 * A REST server in a fetch function, with the semantics of restic's rest-server where it
 * differs from rclone: POST of an existing name is 403, a range starting at or past the end
 * is 416, append-only refuses DELETE except for locks, and (optionally) only API v1.
 */
interface FakeOptions {
  v1?: boolean;
  appendOnly?: boolean;
  /** Ignore Range and always answer 200 with the whole file. */
  ignoreRange?: boolean;
  /** Called first; a Response returned is sent instead. */
  intercept?: (method: string, path: string) => Response | undefined;
}

function fakeRestServer(opts: FakeOptions = {}): { fetch: typeof fetch; files: Map<string, Buffer>; requests: string[] } {
  const files = new Map<string, Buffer>();
  const requests: string[] = [];
  const impl = async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const signal = init.signal ?? undefined;
    if (signal?.aborted) throw signal.reason;
    await new Promise((resolve) => setImmediate(resolve));
    if (signal?.aborted) throw signal.reason;
    const url = new URL(String(input));
    const method = init.method ?? 'GET';
    const headers = new Headers(init.headers);
    requests.push(`${method} ${url.pathname}${url.search}`);
    const intercepted = opts.intercept?.(method, url.pathname);
    if (intercepted !== undefined) return intercepted;
    const path = url.pathname.replace(/^\/repo\//, '');
    if (method === 'POST' && url.search === '?create=true') return new Response(null, { status: 200 });
    if (method === 'GET' && path.endsWith('/')) {
      const type = path.slice(0, -1);
      const list = [...files].filter(([k]) => k.startsWith(`${type}/`)).map(([k, v]) => ({ name: k.slice(type.length + 1), size: v.length }));
      if (opts.v1 === true || headers.get('accept') !== REST_V2) {
        return Response.json(list.map((f) => f.name));
      }
      return new Response(JSON.stringify(list), { headers: { 'content-type': REST_V2 } });
    }
    const data = files.get(path);
    if (method === 'HEAD') return data === undefined ? new Response(null, { status: 404 }) : new Response(null, { headers: { 'content-length': String(data.length) } });
    if (method === 'POST') {
      if (data !== undefined) return new Response('Forbidden\n', { status: 403, statusText: 'Forbidden' });
      files.set(path, Buffer.from(init.body as Uint8Array));
      return new Response(null, { status: 200 });
    }
    if (method === 'DELETE') {
      if (opts.appendOnly === true && !path.startsWith('locks/')) return new Response('Forbidden\n', { status: 403, statusText: 'Forbidden' });
      if (data === undefined) return new Response('Not Found\n', { status: 404, statusText: 'Not Found' });
      files.delete(path);
      return new Response(null, { status: 200 });
    }
    if (method === 'GET') {
      if (data === undefined) return new Response('Not Found\n', { status: 404, statusText: 'Not Found' });
      const range = /^bytes=(\d+)-(\d*)$/.exec(headers.get('range') ?? '');
      if (range === null || opts.ignoreRange === true) return new Response(data);
      const start = Number(range[1]);
      if (start >= data.length) return new Response(null, { status: 416, headers: { 'content-range': `bytes */${data.length}` } });
      const end = Math.min(range[2] === '' ? data.length - 1 : Number(range[2]), data.length - 1);
      return new Response(data.subarray(start, end + 1), { status: 206, headers: { 'content-range': `bytes ${start}-${end}/${data.length}` } });
    }
    return new Response(null, { status: 405 });
  };
  return { fetch: impl as typeof fetch, files, requests };
}

const URL_ = 'rest:http://u:secret-pw@fake.invalid/repo/';
const rand = (): string => randomBytes(32).toString('hex');
const codeOf = (err: unknown): string | undefined => (err instanceof LifeboatError ? err.code : undefined);

async function listAll(s: Storage, type: Handle['type']): Promise<FileInfo[]> {
  const out: FileInfo[] = [];
  for await (const fi of s.list(type)) out.push(fi);
  return out;
}

storageSuite('rest (rest-server semantics, API v2, in-process)', async () => ({
  storage: createRestStorage(URL_, { fetch: fakeRestServer().fetch }),
  cleanup: async () => {},
}));
storageSuite('rest (rest-server semantics, API v1 only, in-process)', async () => ({
  storage: createRestStorage(URL_, { fetch: fakeRestServer({ v1: true }).fetch }),
  cleanup: async () => {},
}));
storageSuite('rest (a server that ignores Range, in-process)', async () => ({
  storage: createRestStorage(URL_, { fetch: fakeRestServer({ ignoreRange: true }).fetch }),
  cleanup: async () => {},
}));

test('rest url: credentials leave the location and go to the Authorization header', () => {
  const e = parseRestUrl('rest:https://us%40er:p%3Ass@host.example:8443/a/b');
  assert.equal(e.base, 'https://host.example:8443/a/b/');
  assert.equal(e.location, 'rest:https://host.example:8443/a/b/');
  assert.equal(e.user, 'us@er');
  assert.equal(e.authorization, `Basic ${Buffer.from('us@er:p:ss').toString('base64')}`);
  assert.equal(parseRestUrl('rest:http://h:1/').authorization, undefined);
  assert.equal(parseRestUrl('http://h:1').base, 'http://h:1/', 'the rest: prefix is optional');
});

test('rest url: URL credentials win over options, options over the environment', () => {
  const env = { LIFEBOAT_REST_USER: 'envu', LIFEBOAT_REST_PASSWORD: 'envp' };
  const auth = (u: string, p: string): string => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;
  assert.equal(parseRestUrl('rest:http://a:b@h/', { user: 'o', password: 'p' }, env).authorization, auth('a', 'b'));
  assert.equal(parseRestUrl('rest:http://h/', { user: 'o', password: 'p' }, env).authorization, auth('o', 'p'));
  assert.equal(parseRestUrl('rest:http://h/', {}, env).authorization, auth('envu', 'envp'));
});

test('rest url: malformed URLs are usage errors that never show the password', () => {
  for (const bad of ['rest:ftp://u:hunter2@h/', 'rest:http://u:hunter2@h/?x=1', 'rest:u:hunter2@@', 'rest:http://u:hun/ter2@h:99999/']) {
    assert.throws(
      () => parseRestUrl(bad),
      (err: unknown) => err instanceof UsageError && !err.message.includes('hunter2') && !err.message.includes('ter2'),
      bad,
    );
  }
  assert.equal(redact('rest:http://u:p@ss@h/x'), 'rest:http://h/x');
});

test('rest: Content-Range parsing, including the forms rclone sends past the end', () => {
  assert.deepEqual(parseContentRange('bytes 1-2/4'), { size: 4 });
  assert.deepEqual(parseContentRange('bytes */4'), { size: 4 });
  assert.deepEqual(parseContentRange('bytes 5000-3/4'), { size: 4 });
  assert.deepEqual(parseContentRange('bytes 0--1/0'), { size: 0 });
  assert.deepEqual(parseContentRange('bytes 0-1/*'), { size: undefined });
  assert.equal(parseContentRange(null), undefined);
  assert.equal(parseContentRange('items 1-2/3'), undefined);
});

test('rest: HTTP statuses map to codes and retryability', () => {
  const ctx = { op: 'save', what: 'data/ab', location: 'rest:http://h/' };
  const cases: Array<[number, string, boolean]> = [
    [400, 'io_error', false],
    [401, 'permission_denied', false],
    [403, 'permission_denied', false],
    [404, 'not_found', false],
    [408, 'storage_unavailable', true],
    [413, 'storage_full', false],
    [429, 'storage_unavailable', true],
    [500, 'storage_unavailable', true],
    [501, 'io_error', false],
    [502, 'storage_unavailable', true],
    [503, 'storage_unavailable', true],
    [504, 'storage_unavailable', true],
    [507, 'storage_full', false],
  ];
  for (const [status, code, retryable] of cases) {
    const err = httpStatusError(status, '', '', ctx);
    assert.deepEqual([err.code, err.retryable], [code, retryable], `status ${status}`);
  }
  assert.ok(httpStatusError(404, '', '', ctx) instanceof NotFoundError);
  assert.equal(httpStatusError(403, '', '', { ...ctx, op: 'remove' }).code, 'append_only');
  assert.match(httpStatusError(500, 'Internal Server Error', 'disk on fire\n', ctx).message, /500 Internal Server Error: disk on fire/);
});

test('rest: a 403 on POST of an existing name (rest-server) is already_exists, of a new name permission_denied', async () => {
  const server = fakeRestServer();
  const s = createRestStorage(URL_, { fetch: server.fetch });
  const h: Handle = { type: 'data', name: rand() };
  // Another writer lands the file between our HEAD and our POST.
  let raced = false;
  const racing = createRestStorage(URL_, {
    fetch: (async (input: string | URL | Request, init?: RequestInit) => {
      if (init?.method === 'POST' && !raced) {
        raced = true;
        server.files.set(`data/${h.name}`, Buffer.from('first'));
      }
      return server.fetch(input, init);
    }) as typeof fetch,
  });
  await assert.rejects(racing.save(h, Buffer.from('second')), (e: unknown) => codeOf(e) === 'already_exists');
  assert.equal(server.files.get(`data/${h.name}`)?.toString(), 'first');
  const refusing = createRestStorage(URL_, { fetch: fakeRestServer({ intercept: (m) => (m === 'POST' ? new Response('no', { status: 403 }) : undefined) }).fetch });
  await assert.rejects(refusing.save(h, Buffer.from('x')), (e: unknown) => codeOf(e) === 'permission_denied');
  await s.create();
});

test('rest: append-only refusals and canDelete', async () => {
  const s = createRestStorage(URL_, { fetch: fakeRestServer({ appendOnly: true }).fetch, appendOnly: true });
  assert.equal(s.properties.canDelete, false);
  const data: Handle = { type: 'data', name: rand() };
  const lock: Handle = { type: 'locks', name: rand() };
  await s.save(data, Buffer.from('d'));
  await s.save(lock, Buffer.from('l'));
  await assert.rejects(s.remove(data), (e: unknown) => codeOf(e) === 'append_only' && !(e as LifeboatError).retryable);
  await s.remove(lock);
  assert.deepEqual(await listAll(s, 'locks'), []);
});

test('rest: answers that break the protocol are permanent io_errors, never wrong data', async () => {
  const h: Handle = { type: 'index', name: rand() };
  const with_ = (intercept: FakeOptions['intercept']): Storage => createRestStorage(URL_, { fetch: fakeRestServer({ intercept }).fetch });
  const cases: Array<[string, FakeOptions['intercept'], () => (s: Storage) => Promise<unknown>]> = [
    ['listing not JSON', (m) => (m === 'GET' ? new Response('<html>', { headers: { 'content-type': REST_V2 } }) : undefined), () => (s) => listAll(s, 'keys')],
    ['listing not an array', (m) => (m === 'GET' ? new Response('{}', { headers: { 'content-type': REST_V2 } }) : undefined), () => (s) => listAll(s, 'keys')],
    ['v2 entry without size', (m) => (m === 'GET' ? new Response('[{"name":"x"}]', { headers: { 'content-type': REST_V2 } }) : undefined), () => (s) => listAll(s, 'keys')],
    ['HEAD without length', (m) => (m === 'HEAD' ? new Response(null, { status: 200 }) : undefined), () => (s) => s.stat(h)],
    ['a longer range than asked', (m) => (m === 'GET' ? new Response(Buffer.alloc(20), { status: 206, headers: { 'content-range': 'bytes 0-19/100' } }) : undefined), () => (s) => s.load(h, { offset: 0, length: 10 })],
  ];
  for (const [label, intercept, call] of cases) {
    await assert.rejects(call()(with_(intercept)), (e: unknown) => codeOf(e) === 'io_error' && !(e as LifeboatError).retryable, label);
  }
  // A null listing (some servers send it for an empty directory) is an empty one.
  const nullList = with_((m) => (m === 'GET' ? new Response('null', { headers: { 'content-type': REST_V2 } }) : undefined));
  assert.deepEqual(await listAll(nullList, 'keys'), []);
  // A 206 shorter than asked is a short_read.
  const shortBody = with_((m) => (m === 'GET' ? new Response(Buffer.alloc(5), { status: 206, headers: { 'content-range': 'bytes 0-4/5' } }) : undefined));
  await assert.rejects(shortBody.load(h, { offset: 0, length: 10 }), (e: unknown) => codeOf(e) === 'short_read');
});

test('rest: network failures and deadlines are retryable, the caller aborting is not', async () => {
  const refused = Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:80'), { code: 'ECONNREFUSED' }) });
  const down = createRestStorage(URL_, { fetch: (async () => Promise.reject(refused)) as typeof fetch });
  await assert.rejects(down.stat({ type: 'config', name: '' }), (err: unknown) => {
    assert.ok(err instanceof LifeboatError);
    assert.deepEqual([err.code, err.retryable], ['storage_unavailable', true]);
    assert.match(err.message, /ECONNREFUSED/);
    assert.match(err.message, /rest:http:\/\/fake\.invalid\/repo\//);
    assert.ok(!err.message.includes('secret-pw'));
    return true;
  });
  // A fetch that never answers until its signal aborts.
  const hanging = (async (_i: unknown, init?: RequestInit) =>
    new Promise((_resolve, reject) => init?.signal?.addEventListener('abort', () => reject(init.signal?.reason), { once: true }))) as typeof fetch;
  await assert.rejects(createRestStorage(URL_, { fetch: hanging, timeoutMs: 20 }).stat({ type: 'config', name: '' }), (e: unknown) => codeOf(e) === 'storage_unavailable' && (e as LifeboatError).retryable);
  const ac = new AbortController();
  const pending = createRestStorage(URL_, { fetch: hanging }).load({ type: 'config', name: '' }, { signal: ac.signal });
  ac.abort();
  await assert.rejects(pending, (e: unknown) => codeOf(e) === 'cancelled');
});

test('rest: at most `connections` requests are in flight', async () => {
  let inFlight = 0;
  let peak = 0;
  const server = fakeRestServer();
  const counting = (async (input: string | URL | Request, init?: RequestInit) => {
    inFlight++;
    peak = Math.max(peak, inFlight);
    try {
      await new Promise((resolve) => setTimeout(resolve, 1));
      return await server.fetch(input, init);
    } finally {
      inFlight--;
    }
  }) as typeof fetch;
  const s = createRestStorage(URL_, { fetch: counting, connections: 3 });
  await Promise.all(Array.from({ length: 20 }, () => s.save({ type: 'data', name: rand() }, Buffer.from('x'))));
  assert.equal(peak, 3);
});

test('rest: requests carry basic auth and address files flat as {type}/{name}', async () => {
  const seen: Array<{ url: string; auth: string | null; accept: string | null }> = [];
  const server = fakeRestServer();
  const spy = (async (input: string | URL | Request, init?: RequestInit) => {
    const h = new Headers(init?.headers);
    seen.push({ url: String(input), auth: h.get('authorization'), accept: h.get('accept') });
    return server.fetch(input, init);
  }) as typeof fetch;
  const s = createRestStorage(URL_, { fetch: spy });
  const name = `ab${'0'.repeat(62)}`;
  await s.save({ type: 'data', name }, Buffer.from('x'));
  await listAll(s, 'data');
  assert.ok(seen.every((r) => r.auth === `Basic ${Buffer.from('u:secret-pw').toString('base64')}`));
  assert.ok(seen.every((r) => !r.url.includes('secret-pw')));
  assert.deepEqual(seen.map((r) => r.url), [`http://fake.invalid/repo/data/${name}`, `http://fake.invalid/repo/data/${name}`, 'http://fake.invalid/repo/data/']);
  assert.equal(seen[2]?.accept, REST_V2);
});
