/**
 * An HTTP proxy on a loopback port that injects faults between an HTTP client and a server
 * (here: S3Storage and the local S3 server), one decision per request:
 *
 *   const proxy = await startFlakyProxy(s3.port, (n) => (n <= 3 ? 'slowdown' : 'pass'));
 *   createS3Storage({ endpoint: proxy.endpoint, ... })
 *
 * Faults:
 * - `pass`: forwarded as is.
 * - `drop`: the client's connection is destroyed as soon as the request line and headers
 *   arrive; nothing reaches the server (the client sees a reset or "socket hang up").
 * - `lose-reply`: forwarded whole and answered by the server, then the client's connection is
 *   destroyed instead of the answer: the write landed but the client cannot know.
 * - `slowdown`: answered 503 with S3's SlowDown error body, nothing forwarded.
 * - `truncate`: forwarded, and the answer cut after half its body (headers announce it all).
 *
 * The proxy lives in the test process (no child to clean up): stop() closes it and every
 * connection it holds. Bodies are streamed, never buffered whole.
 */
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { LOOPBACK } from './ports.ts';

export type Fault = 'pass' | 'drop' | 'lose-reply' | 'slowdown' | 'truncate';

/** Decides the fault of request number `n` (1-based, in arrival order). */
export type FaultPlan = (n: number, req: IncomingMessage) => Fault;

export interface FlakyProxy {
  /** http://127.0.0.1:PORT */
  readonly endpoint: string;
  readonly port: number;
  /** Requests seen so far. */
  readonly requests: number;
  /** How many requests got each fault. */
  readonly counts: Readonly<Record<Fault, number>>;
  /** Replaces the plan; numbering goes on. */
  setPlan(plan: FaultPlan): void;
  stop(): Promise<void>;
}

const SLOW_DOWN_BODY =
  '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>';

export async function startFlakyProxy(targetPort: number, plan: FaultPlan, targetHost = LOOPBACK): Promise<FlakyProxy> {
  let current = plan;
  let seen = 0;
  const counts: Record<Fault, number> = { pass: 0, drop: 0, 'lose-reply': 0, slowdown: 0, truncate: 0 };
  const sockets = new Set<Socket>();

  const forward = (req: IncomingMessage, res: ServerResponse, fault: Fault): void => {
    const upstream = request({ host: targetHost, port: targetPort, method: req.method, path: req.url, headers: req.headers }, (up) => {
      if (fault === 'lose-reply') {
        // Let the server finish (it has committed), then vanish without a word.
        up.resume();
        up.once('end', () => req.socket.destroy());
        return;
      }
      res.writeHead(up.statusCode ?? 502, up.headers);
      if (fault !== 'truncate') {
        up.pipe(res);
        return;
      }
      const announced = Number(up.headers['content-length'] ?? 0);
      const cut = Math.floor(announced / 2);
      let sent = 0;
      const breakOff = (): void => {
        up.destroy();
        // Let the half already written leave, then break the connection.
        const socket = res.socket;
        if (socket === null) return;
        socket.end(() => socket.destroy());
      };
      if (cut === 0) {
        breakOff();
        return;
      }
      up.on('data', (chunk: Buffer) => {
        if (sent >= cut) return;
        const part = chunk.subarray(0, cut - sent);
        sent += part.length;
        res.write(part);
        if (sent >= cut) breakOff();
      });
      // A HEAD announces a length but sends no body: break off all the same.
      up.once('end', () => {
        if (sent < cut) breakOff();
      });
    });
    upstream.once('error', () => req.socket.destroy());
    req.pipe(upstream);
  };

  const server: Server = createServer((req, res) => {
    seen += 1;
    const fault = current(seen, req);
    counts[fault] += 1;
    switch (fault) {
      case 'drop':
        req.socket.destroy();
        return;
      case 'slowdown':
        // Read the body first: answering while the client still sends confuses some clients.
        req.resume();
        req.once('end', () => {
          res.writeHead(503, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(SLOW_DOWN_BODY), 'retry-after': '0' });
          res.end(SLOW_DOWN_BODY);
        });
        return;
      default:
        forward(req, res, fault);
    }
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  // A client that hangs up mid-request is the point of this proxy, not an error.
  server.on('clientError', (_err, socket: Socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, LOOPBACK, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    endpoint: `http://${LOOPBACK}:${port}`,
    port,
    get requests() {
      return seen;
    },
    counts,
    setPlan(next) {
      current = next;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
