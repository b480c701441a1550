/**
 * Finds the data stores that answer on a host's default ports, for `lifeboat config init
 * --detect`. Each probe speaks just enough of the store's protocol to tell it from another
 * service on the port, and sends no credentials:
 * - PostgreSQL: an SSLRequest, answered by one byte, 'S' or 'N' (protocol docs, "SSL Session
 *   Encryption").
 * - MariaDB/MySQL: the server speaks first, a handshake packet whose payload starts with
 *   protocol version 10 (or 0xff, an error packet such as "host is not allowed": still MySQL).
 * - Redis/Valkey: PING, answered by +PONG, or by -NOAUTH when a password is required.
 */
import net from 'node:net';

export type StoreKind = 'postgres' | 'mysql' | 'redis';

export interface DetectedStore {
  kind: StoreKind;
  host: string;
  port: number;
  /** Redis: the server asked for a password. */
  needsPassword?: boolean;
  /** MariaDB/MySQL: the version string of its greeting. */
  version?: string;
}

export const DEFAULT_PORTS: Readonly<Record<StoreKind, number>> = { postgres: 5432, mysql: 3306, redis: 6379 };

/**
 * Connects, sends `hello` (if any) and returns the bytes received until `enough` says so, the
 * peer closes, or `timeoutMs` passes; undefined when nothing listens.
 */
function exchange(host: string, port: number, hello: Buffer | undefined, enough: (b: Buffer) => boolean, timeoutMs: number): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = net.connect({ host, port });
    let done = false;
    const finish = (ok: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(ok || chunks.length > 0 ? Buffer.concat(chunks) : undefined);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.on('connect', () => {
      if (hello !== undefined) socket.write(hello);
    });
    socket.on('data', (b: Buffer) => {
      chunks.push(b);
      if (enough(Buffer.concat(chunks))) finish(true);
    });
    socket.on('error', () => finish(false)); // refused, reset: nothing (usable) listens there
    socket.on('close', () => finish(false));
  });
}

const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);

async function probePostgres(host: string, port: number, timeoutMs: number): Promise<DetectedStore | undefined> {
  const r = await exchange(host, port, SSL_REQUEST, (b) => b.length >= 1, timeoutMs);
  if (r === undefined || r.length !== 1 || (r[0] !== 0x53 && r[0] !== 0x4e)) return undefined;
  return { kind: 'postgres', host, port };
}

async function probeMysql(host: string, port: number, timeoutMs: number): Promise<DetectedStore | undefined> {
  const r = await exchange(host, port, undefined, (b) => b.length >= 4 && b.length >= 4 + b.readUIntLE(0, 3), timeoutMs);
  if (r === undefined || r.length < 5) return undefined;
  const payload = r.subarray(4, 4 + r.readUIntLE(0, 3));
  if (payload[0] === 0xff) return { kind: 'mysql', host, port };
  if (payload[0] !== 10) return undefined;
  const end = payload.indexOf(0, 1);
  return { kind: 'mysql', host, port, version: end > 1 ? payload.subarray(1, end).toString('latin1') : undefined };
}

async function probeRedis(host: string, port: number, timeoutMs: number): Promise<DetectedStore | undefined> {
  const r = await exchange(host, port, Buffer.from('PING\r\n'), (b) => b.includes('\r\n'), timeoutMs);
  const line = r?.toString('latin1') ?? '';
  if (line.startsWith('+PONG')) return { kind: 'redis', host, port, needsPassword: false };
  if (/^-(NOAUTH|ERR.*auth)/i.test(line)) return { kind: 'redis', host, port, needsPassword: true };
  return undefined;
}

/** The stores that answer on `host` (default 127.0.0.1), in a fixed order; probes run at once (three). */
export async function detectStores(opts: { host?: string; ports?: Partial<Record<StoreKind, number>>; timeoutMs?: number } = {}): Promise<DetectedStore[]> {
  const host = opts.host ?? '127.0.0.1';
  const ports = { ...DEFAULT_PORTS, ...opts.ports };
  const timeoutMs = opts.timeoutMs ?? 1000;
  const found = await Promise.all([
    probePostgres(host, ports.postgres, timeoutMs),
    probeMysql(host, ports.mysql, timeoutMs),
    probeRedis(host, ports.redis, timeoutMs),
  ]);
  return found.filter((s): s is DetectedStore => s !== undefined);
}
