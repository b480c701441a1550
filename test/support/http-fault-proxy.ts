/**
 * An HTTP proxy for tests that misbehaves on purpose in front of a real server (a restic REST
 * server here): it answers with an error status, drops the connection, breaks a reply off
 * halfway, or stalls, for the next N requests that match; everything else is passed through.
 *
 * With `v1` on, it also plays a server that only speaks REST API v1: listings are fetched
 * from the real server as v2 and handed back as a bare list of names with a plain JSON
 * Content-Type, which is what a v1 server sends whatever the client asks for.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { LOOPBACK } from './ports.ts';

export type ProxyFault =
  /** Answer with this status (the request body is read first). */
  | { readonly kind: 'status'; readonly status: number }
  /** Close the socket without an answer. */
  | { readonly kind: 'drop' }
  /** Forward, then send the headers and half the reply body, then close the socket. */
  | { readonly kind: 'truncate' }
  /** Forward and let the server finish, then close the socket unanswered: a lost reply. */
  | { readonly kind: 'lose-reply' }
  /** Never answer; the socket stays open until the client gives up or the proxy closes. */
  | { readonly kind: 'stall' };

export interface ProxyRequestInfo {
  readonly method: string;
  readonly path: string;
}

export interface FaultProxy {
  /** http://127.0.0.1:PORT/ */
  readonly httpUrl: string;
  readonly port: number;
  /** Speak REST API v1 for listings. */
  v1: boolean;
  /** Requests seen, and faults applied so far. */
  readonly stats: { requests: number; faults: number; passed: number };
  /** Applies `fault` to the next `count` requests for which `match` holds (default all). */
  failNext(count: number, fault: ProxyFault, match?: (req: ProxyRequestInfo) => boolean): void;
  close(): Promise<void>;
}

const V2 = 'application/vnd.x.restic.rest.v2';

export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const upstream = new URL(target);
  const plans: Array<{ left: number; fault: ProxyFault; match: (req: ProxyRequestInfo) => boolean }> = [];
  const sockets = new Set<Socket>();
  const agent = new http.Agent({ keepAlive: true });
  const stats = { requests: 0, faults: 0, passed: 0 };

  const takeFault = (info: ProxyRequestInfo): ProxyFault | undefined => {
    const plan = plans.find((p) => p.left > 0 && p.match(info));
    if (plan === undefined) return undefined;
    plan.left--;
    stats.faults++;
    return plan.fault;
  };

  const server = http.createServer((req, res) => {
    stats.requests++;
    const info = { method: req.method ?? 'GET', path: req.url ?? '/' };
    const fault = takeFault(info);
    if (fault?.kind === 'drop') {
      req.socket.destroy();
      return;
    }
    if (fault?.kind === 'stall') {
      req.resume();
      return;
    }
    if (fault?.kind === 'status') {
      req.resume();
      req.on('end', () => {
        res.writeHead(fault.status, { 'content-type': 'text/plain', connection: 'close' });
        res.end(`injected ${fault.status}\n`);
      });
      return;
    }
    stats.passed++;
    forward(req, res, fault?.kind);
  });

  const isListing = (req: http.IncomingMessage): boolean => req.method === 'GET' && (req.url ?? '').endsWith('/');

  const forward = (req: http.IncomingMessage, res: http.ServerResponse, fault: 'truncate' | 'lose-reply' | undefined): void => {
    const truncate = fault === 'truncate';
    const headers = { ...req.headers, host: upstream.host };
    const v1Listing = proxy.v1 && isListing(req);
    if (v1Listing) headers.accept = V2;
    const up = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers, agent }, (upRes) => {
      if (fault === 'lose-reply') {
        upRes.resume();
        upRes.on('end', () => res.socket?.destroy());
        return;
      }
      if (!v1Listing && !truncate) {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
        return;
      }
      const chunks: Buffer[] = [];
      upRes.on('data', (c: Buffer) => chunks.push(c));
      upRes.on('end', () => {
        let body = Buffer.concat(chunks);
        // The body is re-sent whole with a Content-Length: the upstream framing no longer applies.
        const outHeaders = { ...upRes.headers, 'content-length': String(body.length) };
        delete outHeaders['transfer-encoding'];
        if (v1Listing && upRes.statusCode === 200) {
          const names = (JSON.parse(body.toString('utf8')) as Array<{ name: string }>).map((e) => e.name);
          body = Buffer.from(JSON.stringify(names));
          outHeaders['content-type'] = 'application/json';
          outHeaders['content-length'] = String(body.length);
        }
        if (!truncate) {
          res.writeHead(upRes.statusCode ?? 502, outHeaders);
          res.end(body);
          return;
        }
        // Promise the whole body, send half, hang up: the client sees a reply that breaks off.
        res.writeHead(upRes.statusCode ?? 502, { ...outHeaders, 'content-length': String(body.length) });
        res.write(body.subarray(0, Math.floor(body.length / 2)), () => res.socket?.destroy());
      });
    });
    up.on('error', () => res.socket?.destroy());
    req.pipe(up);
  };

  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, LOOPBACK, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  const proxy: FaultProxy = {
    httpUrl: `http://${LOOPBACK}:${port}/`,
    port,
    v1: false,
    stats,
    failNext(count, fault, match = () => true) {
      plans.push({ left: count, fault, match });
    },
    async close() {
      for (const s of sockets) s.destroy();
      agent.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return proxy;
}
