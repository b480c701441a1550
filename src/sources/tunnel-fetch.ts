/**
 * A fetch whose connections go to a unix socket (the local end of a tunnel, net-tunnel.ts)
 * instead of the URL's host: the URL still gives the path, the Host header and, for https,
 * the TLS server name, so an HTTP store reached where it runs (its container, its ssh host)
 * is spoken to exactly as over the network. One connection per request (no pool, `Connection:
 * close`): each tunnel command ends with its response.
 *
 * The subset of fetch the HTTP sources use: method, headers, a string or stream body, signal
 * (it aborts the request and a streaming response body alike); the Response streams its body.
 * A failure is a TypeError('fetch failed') with the cause, as fetch's own.
 */
import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import type { Tunnel } from './net-tunnel.ts';

export type FetchLike = (url: URL | string, init?: RequestInit) => Promise<Response>;

/** Statuses whose Response must have no body. */
const NULL_BODY = new Set([101, 204, 205, 304]);

export function fetchThrough(tunnel: Pick<Tunnel, 'path' | 'failure'>): FetchLike {
  return (input, init = {}) => new Promise<Response>((resolve, reject) => {
    const url = new URL(String(input));
    const isHttps = url.protocol === 'https:';
    const headers: Record<string, string> = { ...Object.fromEntries(new Headers(init.headers).entries()), host: url.host, connection: 'close' };
    const body = init.body;
    if (typeof body === 'string') headers['content-length'] = String(Buffer.byteLength(body));
    const fail = (err: unknown): void => {
      // Where the tunnel's far end failed (connection refused there) says more than a hang-up here.
      const far = tunnel.failure();
      reject(new TypeError('fetch failed', { cause: far === undefined ? err : Object.assign(new Error(far), { cause: err }) }));
    };
    const req = (isHttps ? https : http).request({
      socketPath: tunnel.path, method: init.method ?? 'GET', path: `${url.pathname}${url.search}`, headers, agent: false,
      ...(init.signal ? { signal: init.signal } : {}),
      ...(isHttps ? { servername: url.hostname } : {}),
    }, (res) => {
      const h = new Headers();
      for (const [k, v] of Object.entries(res.headers)) {
        if (Array.isArray(v)) for (const x of v) h.append(k, x);
        else if (v !== undefined) h.set(k, v);
      }
      const status = res.statusCode ?? 502;
      const isEmpty = NULL_BODY.has(status) || init.method === 'HEAD';
      if (isEmpty) res.resume();
      resolve(new Response(isEmpty ? null : Readable.toWeb(res) as ReadableStream<Uint8Array>, { status, statusText: res.statusMessage ?? '', headers: h }));
    });
    req.on('error', fail);
    if (body === undefined || body === null) req.end();
    else if (typeof body === 'string') req.end(body);
    else if (body instanceof ReadableStream) {
      Readable.fromWeb(body as import('node:stream/web').ReadableStream<Uint8Array>).on('error', (err) => req.destroy(err)).pipe(req);
    } else {
      req.destroy();
      reject(new TypeError('fetchThrough: a string or stream body only'));
    }
  });
}

/**
 * The fetch for each URL of a source whose store is reached where its runner's commands run:
 * one tunnel listener per host:port, opened on first use, closed by close() (an idle
 * listener holds no command over there). `using` brackets an operation: the tunnels close
 * when the last running operation ends, so none outlives the source's work.
 */
export class TunnelFetchers {
  readonly #open: (host: string, port: number) => Promise<Tunnel>;
  readonly #tunnels = new Map<string, Promise<Tunnel>>();
  #active = 0;

  constructor(open: (host: string, port: number) => Promise<Tunnel>) {
    this.#open = open;
  }

  async fetchFor(url: string): Promise<FetchLike> {
    return fetchThrough(await this.tunnelFor(url));
  }

  /** The tunnel to the URL's host:port itself, for a client that takes an agent (the AWS SDK). */
  async tunnelFor(url: string): Promise<Tunnel> {
    const u = new URL(url);
    const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
    const port = u.port !== '' ? Number(u.port) : u.protocol === 'https:' ? 443 : 80;
    const key = `${host}:${port}`;
    let t = this.#tunnels.get(key);
    if (t === undefined) {
      t = this.#open(host, port);
      this.#tunnels.set(key, t);
      t.catch(() => this.#tunnels.delete(key));
    }
    return t;
  }

  async using<T>(run: () => Promise<T>): Promise<T> {
    this.#active++;
    try {
      return await run();
    } finally {
      if (--this.#active === 0) await this.close();
    }
  }

  async close(): Promise<void> {
    const all = [...this.#tunnels.values()];
    this.#tunnels.clear();
    for (const t of await Promise.allSettled(all)) if (t.status === 'fulfilled') await t.value.close();
  }
}
