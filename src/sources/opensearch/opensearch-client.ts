/**
 * The subset of the OpenSearch / Elasticsearch REST API this source needs, over node's fetch:
 * JSON in, JSON out, every request bounded by the connect timeout (answers) or the idle
 * timeout (snapshot and restore calls that wait for completion), and cancellable.
 *
 * Errors are SourceErrors naming the request and the cluster's own `error.reason`, never the
 * Authorization header.
 */
import { SourceError, errorMessage } from '../../core/errors.ts';
import type { FetchLike } from '../tunnel-fetch.ts';

export interface OpenSearchClientOptions {
  /** Base URL without credentials. */
  readonly url: string;
  /** The Authorization header value, or undefined for an open cluster. */
  readonly authorization?: string;
  readonly connectMs: number;
  readonly idleMs: number;
  /** For messages: `source logs`. */
  readonly what: string;
  /** How requests are sent: node's fetch, or through a tunnel to where the cluster runs (tunnel-fetch.ts). */
  readonly fetch?: FetchLike;
}

export interface RequestOptions {
  readonly signal: AbortSignal;
  readonly body?: unknown;
  /** A long request (wait_for_completion): allowed the idle timeout instead of the connect timeout. */
  readonly long?: boolean;
  /** Statuses answered with undefined instead of an error (404 for "no such index"). */
  readonly allow?: readonly number[];
}

/** `{ "error": { "type", "reason" } }` or `{ "error": "text" }` → one line. */
function reasonOf(json: unknown): string {
  const err = (json as { error?: unknown } | undefined)?.error;
  if (typeof err === 'string') return err;
  if (err !== null && typeof err === 'object') {
    const e = err as { type?: string; reason?: string; root_cause?: Array<{ reason?: string }> };
    return [e.type, e.reason ?? e.root_cause?.[0]?.reason].filter(Boolean).join(': ');
  }
  return '';
}

export class OpenSearchClient {
  readonly #o: OpenSearchClientOptions;

  constructor(options: OpenSearchClientOptions) {
    this.#o = options;
  }

  get url(): string {
    return this.#o.url;
  }

  async request<T>(method: string, path: string, opts: RequestOptions): Promise<T | undefined> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.#o.authorization !== undefined) headers.authorization = this.#o.authorization;
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    const timeout = AbortSignal.timeout(opts.long === true ? this.#o.idleMs : this.#o.connectMs);
    const where = `${method} ${path} on ${this.#o.url}`;
    let res: Response;
    let text: string;
    try {
      res = await (this.#o.fetch ?? fetch)(new URL(path, this.#o.url), {
        method,
        headers,
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        signal: AbortSignal.any([opts.signal, timeout]),
      });
      text = await res.text();
    } catch (err) {
      if (opts.signal.aborted) throw err;
      const timedOut = timeout.aborted;
      throw new SourceError(`${this.#o.what}: ${where} ${timedOut ? 'timed out' : `failed: ${errorMessage(err)}`}`, {
        cause: err,
        retryable: true,
        hint: timedOut ? 'the cluster did not answer in time; check its health, or raise timeouts in lifeboat.yml' : 'check `url` in lifeboat.yml and that the cluster is running',
      });
    }
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = { error: text.slice(0, 200) };
    }
    if (opts.allow?.includes(res.status)) return undefined;
    if (res.status < 200 || res.status > 299) {
      const auth = res.status === 401 || res.status === 403;
      throw new SourceError(`${this.#o.what}: ${where} answered HTTP ${res.status}${reasonOf(json) ? `: ${reasonOf(json)}` : ''}`, {
        data: { status: res.status },
        retryable: res.status === 429 || res.status >= 500,
        hint: auth
          ? 'check username/password or api_key in lifeboat.yml; the user needs the manage_snapshots permission and read access to the indices'
          : 'see the cluster\'s log for details',
      });
    }
    return json as T;
  }
}
