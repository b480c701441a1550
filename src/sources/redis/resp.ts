/**
 * RESP2, the Redis serialization protocol, as far as lifeboat needs it: commands go out as
 * arrays of bulk strings; replies come back as simple strings, errors, integers, bulk strings
 * (binary-safe, kept as Buffers) and nested arrays, null for the RESP2 null bulk/array.
 *
 * The parser is incremental: feed it socket chunks in any split and take complete replies
 * out. It keeps partially parsed arrays on a stack, so a reply of a million elements is parsed
 * once, and while a large bulk string is arriving it only collects chunks until enough bytes
 * are there (no repeated concatenation of a growing buffer).
 */

/** An error reply (`-ERR ...`, `-NOAUTH ...`): a value, so a pipeline keeps its order. */
export class RespError {
  readonly message: string;
  constructor(message: string) {
    this.message = message;
  }
  /** The first word: ERR, WRONGPASS, NOAUTH, NOPERM, LOADING… */
  get kind(): string {
    return this.message.split(' ', 1)[0];
  }
}

export type RespValue = string | number | Buffer | null | RespError | RespValue[];

const CRLF = Buffer.from('\r\n');

/** One command as a RESP array of bulk strings. */
export function encodeCommand(args: ReadonlyArray<string | Buffer | number>): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = Buffer.isBuffer(a) ? a : Buffer.from(String(a), 'utf8');
    parts.push(Buffer.from(`$${b.length}\r\n`), b, CRLF);
  }
  return Buffer.concat(parts);
}

/** The protocol was violated (not a reply the server sent as an error). */
export class RespProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RespProtocolError';
  }
}

interface Frame {
  readonly items: RespValue[];
  left: number;
}

/** Longest header line we accept before calling the stream garbage. */
const MAX_LINE = 64 * 1024;

export class RespParser {
  #chunks: Buffer[] = [];
  #length = 0;
  /** Bytes needed before parsing can make progress again. */
  #need = 1;
  #buf: Buffer = Buffer.alloc(0);
  #pos = 0;
  #stack: Frame[] = [];

  push(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#length += chunk.length;
  }

  /** Bytes received but not yet consumed by a complete value (for handing the socket on). */
  takeRest(): Buffer {
    this.#flatten();
    const rest = this.#buf.subarray(this.#pos);
    this.#buf = Buffer.alloc(0);
    this.#pos = 0;
    this.#need = 1;
    return rest;
  }

  /** Whether a reply is partially parsed (an array still missing elements). */
  get busy(): boolean {
    return this.#stack.length > 0 || this.#buf.length > this.#pos || this.#length > 0;
  }

  #flatten(): void {
    if (this.#chunks.length === 0) return;
    const rest = this.#buf.subarray(this.#pos);
    this.#buf = Buffer.concat([rest, ...this.#chunks]);
    this.#pos = 0;
    this.#chunks = [];
    this.#length = 0;
  }

  /** The next complete top-level reply, or undefined until more bytes arrive. */
  next(): RespValue | undefined {
    const available = this.#buf.length - this.#pos + this.#length;
    if (available < this.#need) return undefined;
    this.#flatten();
    for (;;) {
      const got = this.#token();
      if (got === undefined) {
        // Drop consumed bytes so a long pipeline does not pin old buffers.
        if (this.#pos > 0) {
          this.#buf = this.#buf.subarray(this.#pos);
          this.#pos = 0;
        }
        return undefined;
      }
      let value = got.value;
      if (got.open) continue; // an array header: its elements follow
      for (;;) {
        const top = this.#stack.at(-1);
        if (top === undefined) return value;
        top.items.push(value);
        top.left--;
        if (top.left > 0) break;
        this.#stack.pop();
        value = top.items;
      }
    }
  }

  /** Parses one header (and bulk payload); `open` when it pushed an array frame. */
  #token(): { value: RespValue; open: boolean } | undefined {
    const buf = this.#buf;
    const start = this.#pos;
    const eol = buf.indexOf(CRLF, start);
    if (eol < 0) {
      if (buf.length - start > MAX_LINE) throw new RespProtocolError('reply line too long');
      this.#need = buf.length - start + 1;
      return undefined;
    }
    const type = buf[start];
    const line = buf.toString('latin1', start + 1, eol);
    const after = eol + 2;
    switch (type) {
      case 0x2b: // '+'
        this.#consume(after);
        return { value: Buffer.from(line, 'latin1').toString('utf8'), open: false };
      case 0x2d: // '-'
        this.#consume(after);
        return { value: new RespError(Buffer.from(line, 'latin1').toString('utf8')), open: false };
      case 0x3a: // ':'
        this.#consume(after);
        return { value: parseInteger(line), open: false };
      case 0x24: {
        // '$'
        const len = parseInteger(line);
        if (len < 0) {
          this.#consume(after);
          return { value: null, open: false };
        }
        if (buf.length < after + len + 2) {
          this.#need = after + len + 2 - start;
          return undefined;
        }
        if (buf[after + len] !== 0x0d || buf[after + len + 1] !== 0x0a) throw new RespProtocolError('bulk string not followed by CRLF');
        // Copy: the value outlives the receive buffer, which may be large.
        const value = Buffer.from(buf.subarray(after, after + len));
        this.#consume(after + len + 2);
        return { value, open: false };
      }
      case 0x2a: {
        // '*'
        const n = parseInteger(line);
        this.#consume(after);
        if (n < 0) return { value: null, open: false };
        if (n === 0) return { value: [], open: false };
        this.#stack.push({ items: [], left: n });
        return { value: null, open: true };
      }
      default:
        throw new RespProtocolError(`unexpected reply type byte 0x${(type ?? 0).toString(16)}`);
    }
  }

  #consume(to: number): void {
    this.#pos = to;
    this.#need = 1;
  }
}

function parseInteger(s: string): number {
  if (!/^-?\d+$/.test(s)) throw new RespProtocolError(`not an integer in reply: ${JSON.stringify(s.slice(0, 40))}`);
  return Number(s);
}

/** A reply as text (simple or bulk string); undefined for anything else. */
export function replyText(v: RespValue): string | undefined {
  if (typeof v === 'string') return v;
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  return undefined;
}
