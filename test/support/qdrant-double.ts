/**
 * A Qdrant server double for the qdrant source's tests: no Qdrant server installs on this
 * machine, so this follows Qdrant's OpenAPI document (qdrant/qdrant docs/redoc/master/openapi.json)
 * field by field for the endpoints lifeboat uses, and reproduces what the adapter must get
 * right (stores.md A.1):
 * - the envelope `{ result, status: "ok", time }`, errors as `{ status: { error }, time }`,
 *   HTTP 202 without a result for `wait=false`; GET / answers VersionInfo without an envelope;
 * - snapshots as uncompressed tar archives with a `.checksum` sidecar (SHA-256 hex), whose value
 *   the list and create answers carry in `checksum`;
 * - upload recovery from the multipart field `snapshot` only, the `checksum` query checked
 *   before anything changes, and the priority semantics: the default `replica` prefers the
 *   existing data, so a new or emptied collection stays empty;
 * - refusal to recover a snapshot of another major.minor version;
 * - the `api-key` header (or `Authorization: Bearer`) when a key is set.
 * Test knobs: `corruptDownloads` flips a byte of every snapshot download.
 */
import { createHash, randomInt } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface DoublePoint {
  readonly id: number | string;
  readonly vector: unknown;
  readonly payload?: Record<string, unknown>;
}

interface Collection {
  params: { vectors: unknown; sparse_vectors?: unknown };
  points: Map<string, DoublePoint>;
}

interface StoredSnapshot {
  readonly bytes: Buffer;
  readonly checksum: string;
  readonly creation_time: string;
}

export interface QdrantDouble {
  readonly url: string;
  readonly version: string;
  collections: Map<string, Collection>;
  /** Snapshots still on the server, per collection ("" for full-storage snapshots). */
  snapshots: Map<string, Map<string, StoredSnapshot>>;
  /** Every request: method, path with query, whether it carried the right key. */
  readonly requests: Array<{ method: string; url: string; authorized: boolean }>;
  /** Priorities of the upload recoveries, in order. */
  readonly priorities: string[];
  corruptDownloads: boolean;
  close(): Promise<void>;
}

// --- tar (ustar), as Qdrant's snapshot archives are -------------------------------------------

function tarEntry(name: string, data: Buffer): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, 'utf8');
  h.write('0000644\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write(`${data.length.toString(8).padStart(11, '0')}\0`, 124);
  h.write('00000000000\0', 136);
  h.write('        ', 148);
  h.write('0', 156);
  h.write('ustar\0', 257);
  h.write('00', 263);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return Buffer.concat([h, data, Buffer.alloc((512 - (data.length % 512)) % 512)]);
}

export function makeTar(entries: ReadonlyArray<[string, Buffer]>): Buffer {
  return Buffer.concat([...entries.map(([n, d]) => tarEntry(n, d)), Buffer.alloc(1024)]);
}

export function readTar(tar: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let off = 0;
  while (off + 512 <= tar.length) {
    const h = tar.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    const name = h.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '');
    const size = Number.parseInt(h.subarray(124, 136).toString('latin1'), 8);
    out.set(name, tar.subarray(off + 512, off + 512 + size));
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

// --- the server ---------------------------------------------------------------------------------

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

class HttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

async function body(req: IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of req) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** The file of form field `field` of a multipart/form-data body. */
function multipartField(contentType: string, raw: Buffer, field: string): Buffer | undefined {
  const m = /boundary=(?:"([^"]+)"|([^;]+))/.exec(contentType);
  if (!m) throw new HttpError(400, 'Bad request: multipart body without a boundary');
  const delim = Buffer.from(`--${m[1] ?? m[2]}`);
  let at = raw.indexOf(delim);
  while (at >= 0) {
    const start = at + delim.length + 2;
    const next = raw.indexOf(delim, start);
    if (next < 0) break;
    const part = raw.subarray(start, next - 2);
    const sep = part.indexOf('\r\n\r\n');
    const headers = part.subarray(0, sep).toString('utf8');
    if (new RegExp(`name="${field}"`).test(headers)) return part.subarray(sep + 4);
    at = next;
  }
  return undefined;
}

function collectionInfo(c: Collection): unknown {
  return {
    status: 'green',
    optimizer_status: 'ok',
    indexed_vectors_count: 0,
    points_count: c.points.size,
    segments_count: 2,
    config: {
      params: { vectors: c.params.vectors, ...(c.params.sparse_vectors ? { sparse_vectors: c.params.sparse_vectors } : {}), shard_number: 1, replication_factor: 1, write_consistency_factor: 1, on_disk_payload: true },
      hnsw_config: { m: 16, ef_construct: 100, full_scan_threshold: 10000, max_indexing_threads: 0, on_disk: false },
      optimizer_config: { deleted_threshold: 0.2, vacuum_min_vector_number: 1000, default_segment_number: 0, max_segment_size: null, memmap_threshold: null, indexing_threshold: 20000, flush_interval_sec: 5, max_optimization_threads: null },
      wal_config: { wal_capacity_mb: 32, wal_segments_ahead: 0 },
      quantization_config: null,
    },
    payload_schema: {},
  };
}

export async function startQdrantDouble(opts: { version?: string; apiKey?: string } = {}): Promise<QdrantDouble> {
  const version = opts.version ?? '1.12.4';
  const minor = (v: string): string => v.split('.').slice(0, 2).join('.');
  const state = {
    collections: new Map<string, Collection>(),
    snapshots: new Map<string, Map<string, StoredSnapshot>>(),
    requests: [] as QdrantDouble['requests'],
    priorities: [] as string[],
    corruptDownloads: false,
  };
  const started = Date.now();

  const snapshotOf = (names: readonly string[]): Buffer =>
    makeTar([
      ['version.json', Buffer.from(JSON.stringify({ version }))],
      ...names.flatMap((n): Array<[string, Buffer]> => {
        const c = state.collections.get(n) as Collection;
        return [
          [`${n}/config.json`, Buffer.from(JSON.stringify(c.params))],
          [`${n}/points.json`, Buffer.from(JSON.stringify([...c.points.values()]))],
        ];
      }),
    ]);

  const need = (name: string): Collection => {
    const c = state.collections.get(name);
    if (!c) throw new HttpError(404, `Not found: Collection \`${name}\` doesn't exist!`);
    return c;
  };

  const createSnapshot = (key: string, names: readonly string[]): StoredSnapshot & { name: string } => {
    const bytes = snapshotOf(names);
    const now = new Date();
    const stamp = now.toISOString().slice(0, 19).replace('T', '-').replace(/:/g, '-');
    const name = `${key || 'full-snapshot'}-${randomInt(2 ** 47)}-${stamp}.snapshot`;
    const snap = { bytes, checksum: sha256(bytes), creation_time: now.toISOString().slice(0, 19) };
    if (!state.snapshots.has(key)) state.snapshots.set(key, new Map());
    state.snapshots.get(key)?.set(name, snap);
    return { name, ...snap };
  };

  const describe = (name: string, s: StoredSnapshot): unknown => ({ name, creation_time: s.creation_time, size: s.bytes.length, checksum: s.checksum });

  const recover = (name: string, file: Buffer, priority: string, checksum: string | null): void => {
    if (checksum !== null && checksum !== sha256(file)) throw new HttpError(400, `Wrong input: Snapshot checksum mismatch: expected ${checksum}, got ${sha256(file)}`);
    const entries = readTar(file);
    const meta = entries.get('version.json');
    if (!meta) throw new HttpError(500, 'Service internal error: failed to iterate over archive');
    const from = (JSON.parse(meta.toString()) as { version: string }).version;
    if (minor(from) !== minor(version)) throw new HttpError(500, `Service internal error: Cannot upgrade version ${from} to ${version}. Try to use older version of Qdrant first.`);
    const dir = [...entries.keys()].find((k) => k.endsWith('/config.json'))?.slice(0, -'/config.json'.length);
    if (dir === undefined) throw new HttpError(400, 'Wrong input: snapshot holds no collection');
    const params = JSON.parse((entries.get(`${dir}/config.json`) as Buffer).toString()) as Collection['params'];
    const points = JSON.parse((entries.get(`${dir}/points.json`) as Buffer).toString()) as DoublePoint[];
    const existing = state.collections.get(name);
    state.priorities.push(priority);
    // replica (the default) prefers the existing data: a new or empty collection stays empty.
    if (priority === 'replica') {
      state.collections.set(name, { params, points: existing?.points ?? new Map() });
      return;
    }
    state.collections.set(name, { params, points: new Map(points.map((p) => [String(p.id), p])) });
  };

  async function route(req: IncomingMessage, res: ServerResponse): Promise<unknown> {
    const u = new URL(req.url ?? '/', 'http://x');
    const parts = u.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const q = u.searchParams;
    const wait = q.get('wait') !== 'false';
    const m = req.method ?? 'GET';
    const json = async (): Promise<Record<string, unknown>> => JSON.parse((await body(req)).toString() || '{}') as Record<string, unknown>;
    if (m === 'GET' && parts.length === 0) return { raw: { title: 'qdrant - vector search engine', version, commit: null } };
    if (parts[0] === 'collections') {
      if (parts.length === 1 && m === 'GET') return { result: { collections: [...state.collections.keys()].map((name) => ({ name })) } };
      const name = parts[1];
      if (parts.length === 2) {
        if (m === 'GET') return { result: collectionInfo(need(name)) };
        if (m === 'PUT') {
          if (state.collections.has(name)) throw new HttpError(409, `Wrong input: Collection \`${name}\` already exists!`);
          const b = await json();
          state.collections.set(name, { params: { vectors: b.vectors, ...(b.sparse_vectors ? { sparse_vectors: b.sparse_vectors } : {}) }, points: new Map() });
          return { result: true };
        }
        if (m === 'DELETE') return { result: state.collections.delete(name) };
      }
      if (parts[2] === 'points') {
        const c = need(name);
        if (parts.length === 3 && m === 'PUT') {
          for (const p of (await json()).points as DoublePoint[]) c.points.set(String(p.id), p);
          return { result: { operation_id: 1, status: 'completed' } };
        }
        if (parts[3] === 'delete' && m === 'POST') {
          for (const id of (await json()).points as Array<string | number>) c.points.delete(String(id));
          return { result: { operation_id: 2, status: 'completed' } };
        }
        if (parts[3] === 'count' && m === 'POST') {
          await json();
          return { result: { count: c.points.size } };
        }
      }
      if (parts[2] === 'snapshots') {
        if (parts.length === 3 && m === 'POST') {
          need(name);
          const s = createSnapshot(name, [name]);
          return wait ? { result: describe(s.name, s) } : { accepted: true };
        }
        if (parts.length === 3 && m === 'GET') return { result: [...(state.snapshots.get(name) ?? new Map<string, StoredSnapshot>())].map(([n, s]) => describe(n, s)) };
        if (parts[3] === 'upload' && m === 'POST') {
          const file = multipartField(req.headers['content-type'] ?? '', await body(req), 'snapshot');
          if (file === undefined) throw new HttpError(400, 'Bad request: multipart form field `snapshot` is missing');
          recover(name, file, q.get('priority') ?? 'replica', q.get('checksum'));
          return wait ? { result: true } : { accepted: true };
        }
        return snapshotFile(name, parts[3], m, wait, res);
      }
    }
    if (parts[0] === 'snapshots') {
      if (parts.length === 1 && m === 'POST') {
        const s = createSnapshot('', [...state.collections.keys()]);
        return wait ? { result: describe(s.name, s) } : { accepted: true };
      }
      if (parts.length === 1 && m === 'GET') return { result: [...(state.snapshots.get('') ?? new Map<string, StoredSnapshot>())].map(([n, s]) => describe(n, s)) };
      return snapshotFile('', parts[1], m, wait, res);
    }
    throw new HttpError(404, `Not found: ${m} ${u.pathname}`);
  }

  function snapshotFile(key: string, name: string, m: string, wait: boolean, res: ServerResponse): unknown {
    const snaps = state.snapshots.get(key);
    const s = snaps?.get(name);
    if (!s) throw new HttpError(404, `Not found: Snapshot ${name} not found`);
    if (m === 'DELETE') {
      snaps?.delete(name);
      return wait ? { result: true } : { accepted: true };
    }
    const bytes = Buffer.from(s.bytes);
    if (state.corruptDownloads) bytes[bytes.length >> 1] ^= 1;
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes.length });
    // In pieces, so the client reads a stream.
    for (let i = 0; i < bytes.length; i += 1000) res.write(bytes.subarray(i, i + 1000));
    res.end();
    return { sent: true };
  }

  const server: Server = createServer((req, res) => {
    const time = (Date.now() - started) / 1e6;
    const key = req.headers['api-key'] ?? req.headers.authorization?.replace(/^Bearer /, '');
    const authorized = opts.apiKey === undefined || key === opts.apiKey;
    state.requests.push({ method: req.method ?? '', url: req.url ?? '', authorized });
    const send = (status: number, obj: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(obj));
    };
    if (!authorized) {
      req.resume();
      send(401, { status: { error: 'Must provide an API key or an Authorization bearer token' }, time });
      return;
    }
    route(req, res).then(
      (r) => {
        const out = r as { raw?: unknown; result?: unknown; accepted?: boolean; sent?: boolean };
        if (out.sent) return;
        if (out.raw !== undefined) send(200, out.raw);
        else if (out.accepted) send(202, { status: 'accepted', time });
        else send(200, { result: out.result, status: 'ok', time });
      },
      (err: unknown) => send(err instanceof HttpError ? err.status : 500, { status: { error: err instanceof Error ? err.message : String(err) }, time }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(state, {
    url: `http://127.0.0.1:${port}`,
    version,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  });
}
