/**
 * The subset of the Vault / OpenBao HTTP API the vault source needs, over node's fetch. The
 * token goes in the X-Vault-Token header only; it never reaches a message. Every request has a
 * connect timeout (until the response headers) and an idle timeout while a body streams.
 */
import { SourceError } from '../../core/errors.ts';
import type { FetchLike } from '../tunnel-fetch.ts';

export interface VaultClientOptions {
  /** For messages: 'vault source secrets (http://127.0.0.1:8200)'. */
  readonly what: string;
  readonly url: string;
  readonly token?: string;
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly signal: AbortSignal;
  /** How requests are sent: node's fetch, or through a tunnel to where the server runs (tunnel-fetch.ts). */
  readonly fetch?: FetchLike;
}

export interface SealStatus {
  readonly initialized: boolean;
  readonly sealed: boolean;
  readonly version: string;
  readonly t: number;
  readonly progress: number;
}

/** An abort that fires when no byte arrived for idleMs (restart with poke()). */
function idleWatch(ms: number, onIdle: () => void): { poke(): void; stop(): void } {
  let timer = setTimeout(onIdle, ms);
  return {
    poke() {
      clearTimeout(timer);
      timer = setTimeout(onIdle, ms);
    },
    stop: () => clearTimeout(timer),
  };
}

export class VaultClient {
  readonly #o: VaultClientOptions;

  constructor(o: VaultClientOptions) {
    this.#o = o;
  }

  async #fetch(method: string, path: string, body?: string | ReadableStream<Uint8Array>, stream = false): Promise<{ res: Response; ac: AbortController; done: () => void }> {
    const ac = new AbortController();
    const signal = AbortSignal.any([ac.signal, this.#o.signal]);
    // An upload is answered only once the server has applied all of it: no deadline for that.
    const timer = stream ? undefined : setTimeout(() => ac.abort(new Error(`no answer within ${this.#o.connectTimeoutMs} ms`)), this.#o.connectTimeoutMs);
    const headers: Record<string, string> = {};
    if (this.#o.token !== undefined) headers['X-Vault-Token'] = this.#o.token;
    try {
      const res = await (this.#o.fetch ?? fetch)(new URL(path, this.#o.url), { method, headers, body, signal, ...(stream ? { duplex: 'half' } : {}) } as RequestInit);
      return { res, ac, done: () => clearTimeout(timer) };
    } catch (err) {
      clearTimeout(timer);
      if (this.#o.signal.aborted) throw err;
      const why = ac.signal.aborted ? String(ac.signal.reason instanceof Error ? ac.signal.reason.message : ac.signal.reason) : causeText(err);
      throw new SourceError(`${this.#o.what}: ${method} ${path} failed: ${why}`, { cause: err, retryable: true, hint: 'check that the server is up and url points at it' });
    }
  }

  async #fail(res: Response, method: string, path: string): Promise<never> {
    const text = await res.text().catch(() => '');
    let detail = text.trim().slice(0, 300);
    try {
      const errors = (JSON.parse(text) as { errors?: unknown }).errors;
      if (Array.isArray(errors) && errors.length > 0) detail = errors.join('; ');
    } catch {
      // not JSON: keep the text
    }
    const hint = res.status === 403 ? 'the token lacks a policy for this path (see docs/config.md, type vault)'
      : res.status === 503 ? 'the server is sealed or standby without an active node: unseal it first' : undefined;
    throw new SourceError(`${this.#o.what}: ${method} ${path} answered HTTP ${res.status}${detail ? `: ${detail}` : ''}`, { hint, retryable: res.status >= 500, data: { status: res.status } });
  }

  /** One JSON request; undefined for a 204. */
  async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const { res, done } = await this.#fetch(method, path, body === undefined ? undefined : JSON.stringify(body));
    try {
      if (!res.ok) await this.#fail(res, method, path);
      if (res.status === 204) return undefined as T;
      return (await res.json()) as T;
    } finally {
      done();
    }
  }

  sealStatus(): Promise<SealStatus> {
    return this.json<SealStatus>('GET', '/v1/sys/seal-status');
  }

  /** The raft snapshot as it streams (GET /v1/sys/storage/raft/snapshot); idle-timed. */
  async *snapshot(): AsyncGenerator<Uint8Array> {
    const path = '/v1/sys/storage/raft/snapshot';
    const { res, ac, done } = await this.#fetch('GET', path);
    done();
    if (!res.ok || res.body === null) await this.#fail(res, 'GET', path);
    const watch = idleWatch(this.#o.idleTimeoutMs, () => ac.abort(new Error(`no data for ${this.#o.idleTimeoutMs} ms`)));
    try {
      for await (const chunk of res.body as ReadableStream<Uint8Array>) {
        watch.poke();
        yield chunk;
      }
    } catch (err) {
      if (this.#o.signal.aborted) throw err;
      const why = ac.signal.aborted ? String((ac.signal.reason as Error).message) : causeText(err);
      throw new SourceError(`${this.#o.what}: the snapshot stream broke off: ${why}`, { cause: err, retryable: true, hint: 'retry the backup' });
    } finally {
      watch.stop();
      ac.abort(); // the consumer may stop early: release the connection
    }
  }

  /** Loads a snapshot (POST …/snapshot, or …/snapshot-force for a snapshot of another cluster). */
  async restore(body: AsyncIterable<Uint8Array>, force: boolean): Promise<void> {
    const path = `/v1/sys/storage/raft/${force ? 'snapshot-force' : 'snapshot'}`;
    const stream = ReadableStream.from(body);
    const { res, done } = await this.#fetch('POST', path, stream, true);
    done();
    if (!res.ok) await this.#fail(res, 'POST', path);
    await res.arrayBuffer();
  }
}

function causeText(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (err instanceof Error ? err.message : String(err));
}
