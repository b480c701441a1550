/**
 * Loopback ports and readiness probes for throwaway servers.
 *
 * A free port is found by binding port 0 and closing again; another process can take it in
 * between, so every server start wraps its attempt in `withFreePort`, which retries with a
 * new port when the attempt fails with a PortInUseError. Readiness is always a real probe
 * (TCP connect, and where cheap a protocol greeting), polled with a short back-off, never a
 * fixed sleep.
 */
import { createServer, connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export const LOOPBACK = '127.0.0.1';

/** A start attempt lost the race for its port; withFreePort retries with another. */
export class PortInUseError extends Error {
  readonly port: number;
  constructor(port: number, detail: string) {
    super(`port ${port} was taken before the server could bind it: ${detail}`);
    this.name = 'PortInUseError';
    this.port = port;
  }
}

/** A port that was free on 127.0.0.1 a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ port: 0, host: LOOPBACK, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no port assigned'))));
    });
  });
}

/** Runs `attempt` with a fresh free port, retrying on a lost bind race. */
export async function withFreePort<T>(attempt: (port: number) => Promise<T>, tries = 5): Promise<T> {
  for (let i = 1; ; i++) {
    const port = await freePort();
    try {
      return await attempt(port);
    } catch (err) {
      if (!(err instanceof PortInUseError) || i >= tries) throw err;
    }
  }
}

/** Connects to 127.0.0.1:port; resolves true when something accepts, false when refused. */
export function isPortOpen(port: number, host = LOOPBACK, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host });
    const done = (open: boolean) => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Connects, optionally writes `send`, and returns the first bytes the server sends back
 * (or undefined if the connection is refused, reset or silent for `timeoutMs`).
 */
export function probe(port: number, send?: string | Buffer, timeoutMs = 1000, host = LOOPBACK): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ port, host });
    let settled = false;
    const done = (value: Buffer | undefined) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      resolve(value);
    };
    socket.setTimeout(timeoutMs, () => done(undefined));
    socket.once('connect', () => {
      if (send !== undefined) socket.write(send);
    });
    socket.once('data', (chunk: Buffer) => done(chunk));
    socket.once('error', () => done(undefined));
    socket.once('close', () => done(undefined));
  });
}

export interface PollOptions {
  /** Give up after this long (a hung server must fail the test, not hang it). */
  timeoutMs?: number;
  /** What is being waited for, for the timeout message. */
  what: string;
  /** Checked before each try; a string aborts the wait with that message (e.g. "exited"). */
  abort?: () => string | undefined;
}

/**
 * Polls `check` until it returns true, with a back-off from 10 ms up to 200 ms. This is the
 * readiness loop: each iteration is a real probe, the delay only spaces the probes out.
 */
export async function pollUntil(check: () => Promise<boolean>, opts: PollOptions): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  let delay = 10;
  for (;;) {
    const aborted = opts.abort?.();
    if (aborted !== undefined) throw new Error(`${opts.what}: ${aborted}`);
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`${opts.what}: not ready after ${opts.timeoutMs ?? 30_000} ms`);
    await sleep(delay);
    delay = Math.min(delay * 2, 200);
  }
}
