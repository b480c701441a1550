/**
 * The subset of VictoriaMetrics' HTTP API the source needs: snapshots, instant queries, health.
 * The snapshot auth key travels as the `authKey` query parameter (VictoriaMetrics' only way);
 * URLs are therefore never put into messages, only the path.
 */
import { SourceError } from '../../core/errors.ts';
import type { FetchLike } from '../tunnel-fetch.ts';

export interface VmClientOptions {
  readonly what: string;
  readonly url: string;
  readonly authKey?: string;
  readonly timeoutMs: number;
  readonly signal: AbortSignal;
  /** How requests are sent: node's fetch, or through a tunnel to where the server runs (tunnel-fetch.ts). */
  readonly fetch?: FetchLike;
}

export class VmClient {
  readonly #o: VmClientOptions;

  constructor(o: VmClientOptions) {
    this.#o = o;
  }

  /** One request, its JSON answer. The body is read to its end: a snapshot/create cut short makes the server delete the snapshot. */
  async #get<T>(path: string, params: Record<string, string> = {}): Promise<T> {
    const u = new URL(path, this.#o.url);
    for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
    if (path.startsWith('/snapshot') && this.#o.authKey !== undefined) u.searchParams.set('authKey', this.#o.authKey);
    let res: Response;
    let text: string;
    try {
      res = await (this.#o.fetch ?? fetch)(u, { signal: AbortSignal.any([AbortSignal.timeout(this.#o.timeoutMs), this.#o.signal]) });
      text = await res.text();
    } catch (err) {
      if (this.#o.signal.aborted) throw err;
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err instanceof Error ? err.message : String(err));
      throw new SourceError(`${this.#o.what}: ${path} failed: ${cause}`, { cause: err, retryable: true, hint: 'check that the server is up and url points at it' });
    }
    if (!res.ok) {
      let msg = text.trim().slice(0, 300);
      try {
        msg = (JSON.parse(text) as { msg?: string; error?: string }).msg ?? (JSON.parse(text) as { error?: string }).error ?? msg;
      } catch {
        // not JSON: keep the text
      }
      // VictoriaMetrics echoes a wrong authKey in its answer: never let it into a message.
      if (this.#o.authKey) msg = msg.replaceAll(this.#o.authKey, '***');
      throw new SourceError(`${this.#o.what}: ${path} answered HTTP ${res.status}: ${msg}`, {
        retryable: res.status >= 500,
        hint: res.status === 401 || /authKey/i.test(msg) ? 'set auth_key to the server\'s -snapshotAuthKey' : undefined,
      });
    }
    return JSON.parse(text) as T;
  }

  async createSnapshot(): Promise<string> {
    const r = await this.#get<{ status: string; snapshot?: string; msg?: string }>('/snapshot/create');
    if (r.status !== 'ok' || typeof r.snapshot !== 'string' || !/^[\w.-]+$/.test(r.snapshot)) {
      throw new SourceError(`${this.#o.what}: /snapshot/create did not return a snapshot name: ${r.msg ?? JSON.stringify(r).slice(0, 200)}`);
    }
    return r.snapshot;
  }

  async deleteSnapshot(name: string): Promise<void> {
    await this.#get('/snapshot/delete', { snapshot: name });
  }

  /** The value of a scalar-valued instant query (0 for an empty result), at `time` (seconds). */
  async scalar(query: string, time: number): Promise<number> {
    const r = await this.#get<{ data: { result: Array<{ value: [number, string] }> } }>('/api/v1/query', { query, time: String(time), nocache: '1' });
    return Number(r.data.result[0]?.value[1] ?? 0);
  }

  /** An instant query's vector as label value → number. */
  async vectorBy(query: string, label: string, time: number): Promise<Record<string, number>> {
    const r = await this.#get<{ data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } }>('/api/v1/query', { query, time: String(time), nocache: '1' });
    const out: Record<string, number> = {};
    for (const s of r.data.result.sort((a, b) => (a.metric[label] ?? '').localeCompare(b.metric[label] ?? ''))) out[s.metric[label] ?? ''] = Number(s.value[1]);
    return out;
  }

  /** Whether the server answers /health (without throwing). */
  async isUp(): Promise<boolean> {
    try {
      const res = await (this.#o.fetch ?? fetch)(new URL('/health', this.#o.url), { signal: AbortSignal.any([AbortSignal.timeout(2000), this.#o.signal]) });
      await res.body?.cancel();
      return res.ok;
    } catch {
      return false; // refused or no answer: not serving
    }
  }
}
