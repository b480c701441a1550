/**
 * The subset of Qdrant's REST API (docs/redoc/master/openapi.json of qdrant/qdrant) that the
 * qdrant source needs, over node's fetch. Every JSON answer comes in the envelope
 * `{ result, status: "ok", time }`; an error is `{ status: { error: "…" }, time }` with a 4xx/5xx.
 * Auth is the `api-key` header. Snapshot files stream both ways: a download is the response
 * body, an upload a multipart body (field `snapshot`) built from the artifact as it is read.
 */
import { CancelledError, SourceError, errorMessage } from '../../core/errors.ts';
import type { FetchLike } from '../tunnel-fetch.ts';

/** `SnapshotDescription` of the OpenAPI document. */
export interface SnapshotDescription {
  readonly name: string;
  readonly creation_time: string | null;
  readonly size: number;
  readonly checksum?: string | null;
}

/** The parts of `CollectionInfo` the fingerprint reads. */
export interface CollectionInfo {
  readonly status: string;
  readonly points_count?: number | null;
  readonly config: { readonly params: { readonly vectors?: unknown; readonly sparse_vectors?: unknown; readonly shard_number?: number } };
}

export interface QdrantClientOptions {
  readonly url: string;
  readonly apiKey?: string;
  /** For messages: "qdrant source vectors (http://127.0.0.1:6333)". */
  readonly what: string;
  readonly signal: AbortSignal;
  /** Limit for a connection and a short JSON call. */
  readonly connectTimeoutMs: number;
  /** Limit for silence: a snapshot being created, a download or upload that stopped moving. */
  readonly idleTimeoutMs: number;
  /** How requests are sent: node's fetch, or through a tunnel to where the server runs (tunnel-fetch.ts). */
  readonly fetch?: FetchLike;
}

type Query = Record<string, string | boolean | undefined>;

const seg = encodeURIComponent;

export class QdrantClient {
  readonly #o: QdrantClientOptions;
  readonly #base: string;

  constructor(o: QdrantClientOptions) {
    this.#o = o;
    this.#base = o.url.replace(/\/+$/, '');
  }

  #url(path: string, query: Query = {}): string {
    const q = Object.entries(query).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${encodeURIComponent(String(v))}`);
    return `${this.#base}${path}${q.length > 0 ? `?${q.join('&')}` : ''}`;
  }

  /**
   * One request; the timer covers the time until the response headers arrive. A streamed body
   * gets `touch`, which restarts the timer as each chunk goes out: the limit is then silence,
   * not the length of the upload.
   */
  async #fetch(method: string, path: string, init: { query?: Query; body?: string | ReadableStream<Uint8Array>; headers?: Record<string, string>; timeoutMs: number; stream?: boolean; touch?: { fn: () => void } }): Promise<Response> {
    if (this.#o.signal.aborted) throw new CancelledError(`${this.#o.what}: cancelled`);
    const timer = new AbortController();
    let t = setTimeout(() => timer.abort(), init.timeoutMs);
    if (init.touch) {
      init.touch.fn = () => {
        clearTimeout(t);
        t = setTimeout(() => timer.abort(), init.timeoutMs);
      };
    }
    const headers: Record<string, string> = { ...init.headers };
    if (this.#o.apiKey !== undefined) headers['api-key'] = this.#o.apiKey;
    let res: Response;
    try {
      res = await (this.#o.fetch ?? fetch)(this.#url(path, init.query), {
        method,
        headers,
        body: init.body,
        signal: AbortSignal.any([this.#o.signal, timer.signal]),
        ...(init.stream ? { duplex: 'half' } : {}),
      } as RequestInit);
    } catch (err) {
      if (this.#o.signal.aborted) throw new CancelledError(`${this.#o.what}: cancelled`, { cause: err });
      if (timer.signal.aborted) {
        throw new SourceError(`${this.#o.what}: ${method} ${path} got no answer within ${Math.round(init.timeoutMs / 1000)} s`, {
          retryable: true,
          hint: 'check that the server is up; for large collections raise timeouts.idle of the source',
        });
      }
      throw new SourceError(`${this.#o.what}: cannot reach the server: ${errorMessage((err as { cause?: unknown }).cause ?? err)}`, {
        cause: err,
        retryable: true,
        hint: 'check url: and that Qdrant is running and reachable from this host',
      });
    } finally {
      clearTimeout(t);
    }
    if (!res.ok) throw await this.#httpError(method, path, res);
    return res;
  }

  async #httpError(method: string, path: string, res: Response): Promise<SourceError> {
    const text = await res.text().catch(() => '');
    let detail = text.slice(0, 300);
    try {
      const j = JSON.parse(text) as { status?: { error?: string } };
      if (typeof j.status?.error === 'string') detail = j.status.error;
    } catch {
      // Not JSON (a proxy's page): keep the text.
    }
    const auth = res.status === 401 || res.status === 403;
    return new SourceError(`${this.#o.what}: ${method} ${path} failed with HTTP ${res.status}${detail ? `: ${detail}` : ''}`, {
      retryable: res.status >= 500 || res.status === 429,
      data: { status: res.status },
      hint: auth ? 'set api_key: { env: NAME } (or file/command) to a read-write key of this server' : undefined,
    });
  }

  async #json<T>(method: string, path: string, query: Query = {}, body?: unknown, timeoutMs = this.#o.connectTimeoutMs): Promise<T> {
    const res = await this.#fetch(method, path, {
      query,
      timeoutMs,
      ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
    });
    const env = (await res.json()) as { result?: T };
    return env.result as T;
  }

  /** `GET /`: `{ title, version }`. */
  async version(): Promise<string> {
    const res = await this.#fetch('GET', '/', { timeoutMs: this.#o.connectTimeoutMs });
    const j = (await res.json()) as { version?: string };
    if (typeof j.version !== 'string') throw new SourceError(`${this.#o.what}: the server did not report a version on GET /; is this Qdrant?`);
    return j.version;
  }

  async listCollections(): Promise<string[]> {
    const r = await this.#json<{ collections: Array<{ name: string }> }>('GET', '/collections');
    return r.collections.map((c) => c.name);
  }

  async collection(name: string): Promise<CollectionInfo> {
    return this.#json<CollectionInfo>('GET', `/collections/${seg(name)}`);
  }

  /** delete_collection has no `wait` (it answers when the collection is gone), only `timeout`. */
  async deleteCollection(name: string): Promise<void> {
    await this.#json('DELETE', `/collections/${seg(name)}`, {}, undefined, this.#o.idleTimeoutMs);
  }

  /** Exact point count (`exact: true`: approximate counts are unreliable during indexing). */
  async countPoints(name: string): Promise<number> {
    const r = await this.#json<{ count: number }>('POST', `/collections/${seg(name)}/points/count`, {}, { exact: true }, this.#o.idleTimeoutMs);
    return r.count;
  }

  /** Creates a snapshot of one collection (or of the whole storage) and waits for it. */
  async createSnapshot(collection: string | null): Promise<SnapshotDescription> {
    const path = collection === null ? '/snapshots' : `/collections/${seg(collection)}/snapshots`;
    return this.#json<SnapshotDescription>('POST', path, { wait: true }, undefined, this.#o.idleTimeoutMs);
  }

  async deleteSnapshot(collection: string | null, name: string): Promise<void> {
    const path = collection === null ? `/snapshots/${seg(name)}` : `/collections/${seg(collection)}/snapshots/${seg(name)}`;
    await this.#json('DELETE', path, { wait: true }, undefined, this.#o.idleTimeoutMs);
  }

  /** The snapshot file as it arrives; each chunk resets the idle timer. */
  async *downloadSnapshot(collection: string | null, name: string): AsyncGenerator<Uint8Array> {
    const path = collection === null ? `/snapshots/${seg(name)}` : `/collections/${seg(collection)}/snapshots/${seg(name)}`;
    const idle = new AbortController();
    const res = await this.#fetch('GET', path, { timeoutMs: this.#o.idleTimeoutMs });
    if (res.body === null) throw new SourceError(`${this.#o.what}: GET ${path} returned no body`);
    const reader = res.body.getReader();
    let timer: NodeJS.Timeout | undefined;
    const arm = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        idle.abort();
        void reader.cancel();
      }, this.#o.idleTimeoutMs);
    };
    try {
      for (;;) {
        arm();
        const { done, value } = await reader.read();
        if (idle.signal.aborted) break;
        if (done) return;
        yield value;
      }
      throw new SourceError(`${this.#o.what}: the download of snapshot ${name} stalled for ${Math.round(this.#o.idleTimeoutMs / 1000)} s`, { retryable: true });
    } catch (err) {
      if (this.#o.signal.aborted) throw new CancelledError(`${this.#o.what}: cancelled`, { cause: err });
      if (err instanceof SourceError) throw err;
      throw new SourceError(`${this.#o.what}: the download of snapshot ${name} broke off: ${errorMessage(err)}`, { cause: err, retryable: true });
    } finally {
      clearTimeout(timer);
      reader.releaseLock();
    }
  }

  /**
   * Recovers a collection from an uploaded snapshot, streamed as multipart field `snapshot`.
   * `priority: snapshot`: the default `replica` prefers existing data, and a new or empty
   * collection would stay empty. The server checks `checksum` (SHA-256 hex) before it restores.
   */
  async uploadSnapshot(collection: string, data: AsyncIterable<Uint8Array>, checksum: string): Promise<void> {
    const boundary = `lifeboat-${crypto.randomUUID()}`;
    const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="snapshot"; filename="${collection.replace(/["\r\n]/g, '_')}.snapshot"\r\nContent-Type: application/octet-stream\r\n\r\n`);
    const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
    async function* body(): AsyncGenerator<Uint8Array> {
      yield head;
      yield* data;
      yield tail;
    }
    const iter = body();
    const touch = { fn: (): void => undefined };
    const stream = new ReadableStream<Uint8Array>({
      async pull(ctrl) {
        const { done, value } = await iter.next();
        touch.fn();
        if (done) ctrl.close();
        else ctrl.enqueue(value);
      },
      async cancel() {
        await iter.return(undefined);
      },
    });
    const res = await this.#fetch('POST', `/collections/${seg(collection)}/snapshots/upload`, {
      query: { wait: true, priority: 'snapshot', checksum },
      body: stream,
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
      timeoutMs: this.#o.idleTimeoutMs,
      stream: true,
      touch,
    });
    await res.arrayBuffer();
  }
}
