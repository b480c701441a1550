/**
 * A narrow Redis/Valkey client over node:net and node:tls: commands with pipelined replies,
 * AUTH (password or ACL user), INFO parsing, and the replica side of a full resynchronisation,
 * which hands out the server's RDB snapshot as a stream (what `redis-cli --rdb` does).
 *
 * Replication handshake (the replica side, as far as a snapshot needs it):
 *   REPLCONF capa eof      we accept the diskless "$EOF:<mark>" framing
 *   REPLCONF rdb-only 1    Redis ≥ 7: send only the RDB, then close (older servers refuse: ignored)
 *   PSYNC ? -1             → "+FULLRESYNC <replid> <offset>"
 * then, possibly after newline keep-alives sent while the server forks:
 *   "$<len>\r\n" and exactly len bytes (disk-based transfer), or
 *   "$EOF:<40 bytes>\r\n", the payload, and the same 40 bytes (diskless transfer; the server
 *   sends nothing after the mark until the replica acknowledges, so the mark ends the stream).
 * Anything after the payload (the replication command stream) is never read.
 */
import net from 'node:net';
import tls from 'node:tls';
import { CancelledError, SourceError } from '../../core/errors.ts';
import { RespError, RespParser, encodeCommand, replyText, type RespValue } from './resp.ts';

export interface RedisEndpoint {
  readonly host: string;
  readonly port: number;
  readonly db: number;
  readonly username?: string;
  readonly password?: string;
  readonly tls?: { readonly ca?: Buffer; readonly insecure?: boolean };
  /**
   * A unix socket that reaches host:port (a tunnel into the container the server runs in):
   * connected to instead of host:port, which still name the server (TLS server name, messages).
   */
  readonly path?: string;
}

export interface ConnectOptions {
  /** How the server is named in messages (a URL without secrets). */
  readonly what: string;
  readonly signal?: AbortSignal;
  readonly connectTimeoutMs?: number;
  /** A reply (or a chunk of the RDB stream) may take this long before the server is called stalled. */
  readonly idleTimeoutMs?: number;
}

/** The server answered a command with an error reply. */
export class RedisReplyError extends SourceError {
  readonly reply: string;
  constructor(message: string, reply: string, options: { hint?: string } = {}) {
    super(message, { ...options, data: { reply: reply.slice(0, 200) } });
    this.reply = reply;
  }
  get kind(): string {
    return this.reply.split(' ', 1)[0];
  }
}

interface Pending {
  readonly command: string;
  resolve(v: RespValue): void;
  reject(e: unknown): void;
}

const DEFAULT_CONNECT_TIMEOUT = 10_000;
const DEFAULT_IDLE_TIMEOUT = 120_000;

function isIp(host: string): boolean {
  return net.isIP(host) !== 0;
}

export class RedisClient {
  readonly what: string;
  readonly #socket: net.Socket;
  readonly #parser = new RespParser();
  readonly #pending: Pending[] = [];
  readonly #idleTimeoutMs: number;
  readonly #signal: AbortSignal | undefined;
  #failure: Error | undefined;
  #detached = false;

  private constructor(socket: net.Socket, opts: ConnectOptions) {
    this.#socket = socket;
    this.what = opts.what;
    this.#idleTimeoutMs = opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT;
    this.#signal = opts.signal;
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (err) => this.#fail(this.#connectionError('the connection failed', err)));
    socket.on('close', () => this.#fail(this.#connectionError('the server closed the connection')));
    socket.on('timeout', () => {
      if (this.#pending.length > 0) socket.destroy(this.#connectionError(`no reply for ${Math.round(this.#idleTimeoutMs / 1000)} s`));
    });
    socket.setTimeout(this.#idleTimeoutMs);
  }

  /** Connects and authenticates (when a password is given) and selects the endpoint's db. */
  static async connect(ep: RedisEndpoint, opts: ConnectOptions): Promise<RedisClient> {
    const socket = await openSocket(ep, opts);
    const client = new RedisClient(socket, opts);
    const onAbort = () => client.close();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('close', () => opts.signal?.removeEventListener('abort', onAbort));
    try {
      if (ep.password !== undefined) await client.auth(ep.username, ep.password);
      else if (ep.username !== undefined) throw new SourceError(`${opts.what}: an ACL username is set but no password`, { hint: 'add password: { env: NAME } (or file/command) to the source' });
      if (ep.db !== 0) await client.command('SELECT', ep.db);
    } catch (err) {
      client.close();
      throw err;
    }
    return client;
  }

  async auth(username: string | undefined, password: string): Promise<void> {
    const args = username === undefined ? ['AUTH', password] : ['AUTH', username, password];
    const reply = await this.call(args, 'AUTH');
    if (reply instanceof RespError) {
      // The reply never echoes the password; still, quote only its first word.
      throw new SourceError(`${this.what}: authentication failed (${reply.kind})`, {
        hint: reply.kind === 'ERR' && /without any password/i.test(reply.message)
          ? 'the server has no password set: remove password from the source'
          : 'check the password (and username) the source refers to',
        data: { reply: reply.kind },
      });
    }
  }

  /** Sends one command; an error reply comes back as a RespError value, not a rejection. */
  call(args: ReadonlyArray<string | Buffer | number>, label = String(args[0])): Promise<RespValue> {
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#detached) return Promise.reject(new Error('client handed its connection to a replication stream'));
    return new Promise<RespValue>((resolve, reject) => {
      this.#pending.push({ command: label, resolve, reject });
      this.#socket.write(encodeCommand(args));
    });
  }

  /** Sends one command and rejects with RedisReplyError on an error reply. */
  async command(...args: Array<string | Buffer | number>): Promise<RespValue> {
    const reply = await this.call(args);
    if (reply instanceof RespError) throw this.replyError(String(args[0]).toUpperCase(), reply);
    return reply;
  }

  replyError(command: string, reply: RespError): RedisReplyError {
    const hint =
      reply.kind === 'NOAUTH' ? 'the server requires a password: add password: { env: NAME } to the source'
      : reply.kind === 'NOPERM' ? `grant the ACL user the ${command} command (a backup needs +psync +replconf +info +scan and read commands)`
      : reply.kind === 'LOADING' ? 'the server is loading its data set: retry when it is done'
      : undefined;
    return new RedisReplyError(`${this.what}: ${command} failed: ${reply.message}`, reply.message, { hint });
  }

  /** INFO <section> as a map of field → value. */
  async info(section: string): Promise<Map<string, string>> {
    const text = replyText(await this.command('INFO', section)) ?? '';
    return parseInfo(text);
  }

  close(): void {
    this.#socket.destroy();
  }

  /**
   * Starts a full resync and streams the RDB payload. The connection is used up by it: the
   * client cannot send commands afterwards. Rejects (while iterating) on a server error, a
   * closed connection, a length mismatch or a missing end mark.
   */
  async *fetchRdb(): AsyncGenerator<Buffer> {
    const capa = await this.call(['REPLCONF', 'capa', 'eof', 'capa', 'psync2'], 'REPLCONF');
    if (capa instanceof RespError) throw this.replyError('REPLCONF', capa);
    // rdb-only arrived in Redis 7.0; older servers say "ERR Unrecognized REPLCONF option".
    const rdbOnly = await this.call(['REPLCONF', 'rdb-only', '1'], 'REPLCONF');
    if (rdbOnly instanceof RespError && rdbOnly.kind !== 'ERR') throw this.replyError('REPLCONF', rdbOnly);
    const { socket, rest } = this.#detach();
    socket.write(encodeCommand(['PSYNC', '?', '-1']));
    try {
      yield* replicationPayload(socket, rest, this.what, this.#idleTimeoutMs, this.#signal);
    } finally {
      socket.destroy();
    }
  }

  #detach(): { socket: net.Socket; rest: Buffer } {
    if (this.#pending.length > 0 || this.#parser.busy) throw new Error('replies still pending');
    this.#detached = true;
    this.#socket.pause();
    this.#socket.removeAllListeners('data');
    this.#socket.removeAllListeners('timeout');
    this.#socket.setTimeout(0);
    return { socket: this.#socket, rest: this.#parser.takeRest() };
  }

  #onData(chunk: Buffer): void {
    this.#parser.push(chunk);
    try {
      for (let v = this.#parser.next(); v !== undefined; v = this.#parser.next()) {
        const p = this.#pending.shift();
        if (p === undefined) throw new Error('a reply arrived that no command asked for');
        p.resolve(v);
      }
    } catch (err) {
      this.#socket.destroy(this.#connectionError('the server sent a malformed reply', err));
    }
  }

  #fail(err: Error): void {
    this.#failure ??= err;
    for (const p of this.#pending.splice(0)) p.reject(this.#failure);
  }

  #connectionError(what: string, cause?: unknown): Error {
    if (this.#signal?.aborted) return new CancelledError(`${this.what}: cancelled`, { cause: this.#signal.reason });
    if (cause instanceof SourceError || cause instanceof CancelledError) return cause;
    const detail = cause instanceof Error ? `: ${cause.message}` : '';
    return new SourceError(`${this.what}: ${what}${detail}`, { cause, retryable: true, hint: 'check that the server is up and reachable' });
  }
}

/** "field:value" lines of INFO; section headers and blank lines skipped. */
export function parseInfo(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.indexOf(':');
    if (i > 0) out.set(line.slice(0, i), line.slice(i + 1));
  }
  return out;
}

function openSocket(ep: RedisEndpoint, opts: ConnectOptions): Promise<net.Socket> {
  const timeout = opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT;
  return new Promise<net.Socket>((resolve, reject) => {
    if (opts.signal?.aborted) {
      reject(new CancelledError(`${opts.what}: cancelled`));
      return;
    }
    const where = ep.path === undefined ? { host: ep.host, port: ep.port } : { path: ep.path };
    const socket: net.Socket = ep.tls
      ? tls.connect({
          ...where,
          ca: ep.tls.ca,
          rejectUnauthorized: ep.tls.insecure !== true,
          servername: isIp(ep.host) ? undefined : ep.host,
        })
      : net.connect(where);
    if (ep.path === undefined) socket.setNoDelay(true);
    const readyEvent = ep.tls ? 'secureConnect' : 'connect';
    const timer = setTimeout(() => fail(new Error(`no connection within ${timeout / 1000} s`)), timeout);
    const onAbort = () => fail(new CancelledError(`${opts.what}: cancelled`));
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    function cleanup() {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      socket.removeListener('error', fail);
      socket.removeListener(readyEvent, ok);
    }
    function ok() {
      cleanup();
      resolve(socket);
    }
    function fail(err: Error) {
      cleanup();
      socket.destroy();
      if (err instanceof CancelledError) reject(err);
      else reject(new SourceError(`${opts.what}: cannot connect: ${err.message}`, { cause: err, retryable: true, hint: 'check the url (host, port, redis:// or rediss://) and that the server is up' }));
    }
    socket.once(readyEvent, ok);
    socket.once('error', fail);
  });
}

const EOF_MARK_LENGTH = 40;
const MAX_HEADER_LINE = 1024;

/**
 * Reads the replication reply on a raw socket: skips keep-alive newlines, checks
 * +FULLRESYNC, parses the bulk header and yields exactly the RDB bytes.
 */
export async function* replicationPayload(
  source: AsyncIterable<Buffer>,
  pre: Buffer,
  what: string,
  idleTimeoutMs = DEFAULT_IDLE_TIMEOUT,
  signal?: AbortSignal,
): AsyncGenerator<Buffer> {
  const it = source[Symbol.asyncIterator]();
  const truncated = (detail: string): Error =>
    signal?.aborted ? new CancelledError(`${what}: cancelled`, { cause: signal.reason }) : new SourceError(`${what}: the RDB transfer broke off: ${detail}`, { retryable: true, hint: 'the server closed the replication connection early (restarted, killed, or repl-timeout/output buffer limits hit); retry the backup' });
  const nextChunk = async (): Promise<Buffer | undefined> => {
    let timer: NodeJS.Timeout | undefined;
    const stalled = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(truncated(`nothing received for ${Math.round(idleTimeoutMs / 1000)} s`)), idleTimeoutMs);
    });
    try {
      const r = await Promise.race([it.next(), stalled]);
      return r.done ? undefined : Buffer.from(r.value.buffer, r.value.byteOffset, r.value.length);
    } catch (err) {
      if (signal?.aborted) throw new CancelledError(`${what}: cancelled`, { cause: signal.reason });
      if (err instanceof SourceError) throw err;
      throw truncated(err instanceof Error ? err.message : String(err));
    } finally {
      clearTimeout(timer);
    }
  };

  let buf = pre;
  /** The next non-empty line; bare "\n" keep-alives before it are skipped. */
  const readLine = async (): Promise<string> => {
    for (;;) {
      let skip = 0;
      while (skip < buf.length && buf[skip] === 0x0a) skip++;
      buf = buf.subarray(skip);
      const nl = buf.indexOf(0x0a);
      if (nl >= 0) {
        const line = buf.toString('latin1', 0, nl).replace(/\r$/, '');
        buf = buf.subarray(nl + 1);
        return line;
      }
      if (buf.length > MAX_HEADER_LINE) throw new SourceError(`${what}: the server's replication reply is not a Redis replication stream`);
      const chunk = await nextChunk();
      if (chunk === undefined) throw truncated('the connection closed before the RDB header');
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    }
  };

  let line = await readLine();
  if (line.startsWith('-')) {
    const reply = new RespError(line.slice(1));
    throw new RedisReplyError(`${what}: PSYNC failed: ${reply.message}`, reply.message, {
      hint: reply.kind === 'NOPERM' ? 'grant the ACL user +psync and +replconf'
        : /unknown command/i.test(reply.message) ? 'the server disables PSYNC (renamed command or a managed service); lifeboat needs replication access for a snapshot'
        : undefined,
    });
  }
  if (line.startsWith('+FULLRESYNC')) line = await readLine();
  else if (line.startsWith('+')) throw new SourceError(`${what}: expected a full resynchronisation, got "${line.slice(0, 60)}"`);
  if (!line.startsWith('$')) throw new SourceError(`${what}: expected the RDB bulk header, got "${line.slice(0, 60)}"`);

  if (line.startsWith('$EOF:')) {
    const mark = Buffer.from(line.slice(5), 'latin1');
    if (mark.length !== EOF_MARK_LENGTH) throw new SourceError(`${what}: bad diskless EOF mark in "${line.slice(0, 60)}"`);
    // Hold back the newest 40 bytes: they may turn out to be the mark.
    let held = Buffer.alloc(0);
    let chunk: Buffer | undefined = buf.length > 0 ? buf : await nextChunk();
    buf = Buffer.alloc(0);
    for (; chunk !== undefined; chunk = await nextChunk()) {
      if (chunk.length === 0) continue;
      let data: Buffer;
      if (chunk.length >= EOF_MARK_LENGTH) {
        // The stream's last 40 bytes are all in this chunk, so what was held is payload.
        if (held.length > 0) yield held;
        data = chunk;
      } else {
        data = Buffer.concat([held, chunk]);
      }
      if (data.length >= EOF_MARK_LENGTH && data.subarray(data.length - EOF_MARK_LENGTH).equals(mark)) {
        const body = data.subarray(0, data.length - EOF_MARK_LENGTH);
        if (body.length > 0) yield body;
        return;
      }
      const cut = Math.max(0, data.length - EOF_MARK_LENGTH);
      if (cut > 0) yield data.subarray(0, cut);
      held = Buffer.from(data.subarray(cut));
    }
    throw truncated('the connection closed before the end-of-RDB mark');
  }

  const len = Number(line.slice(1));
  if (!Number.isSafeInteger(len) || len < 0 || !/^\$\d+$/.test(line)) throw new SourceError(`${what}: bad RDB length header "${line.slice(0, 60)}"`);
  let left = len;
  let chunk: Buffer | undefined = buf.length > 0 ? buf : left > 0 ? await nextChunk() : undefined;
  while (left > 0) {
    if (chunk === undefined) throw truncated(`the connection closed after ${len - left} of ${len} bytes`);
    const take = chunk.subarray(0, Math.min(left, chunk.length));
    left -= take.length;
    if (take.length > 0) yield take;
    if (left > 0) chunk = await nextChunk();
  }
}
