/**
 * RestStorage: a repository on a server speaking restic's REST backend protocol
 * (restic's rest-server, `rclone serve restic`, and compatible servers), over Node's fetch.
 *
 * Protocol, per restic's doc/REST_backend.rst, with what real servers do beside it:
 * - Files are addressed flat as {path}/{type}/{name}, data files too (the server spreads
 *   them over data/xx/), and the config as {path}/config. `POST {path}?create=true` makes
 *   the layout and succeeds when it exists already.
 * - Listing `GET {path}/{type}/` asks for API v2 with `Accept: application/vnd.x.restic.rest.v2`
 *   and gets [{name, size}]. A server that answers with any other Content-Type speaks v1:
 *   a list of names, and sizes come from one HEAD per file. rclone answers a v1 request
 *   with 400 ("Restic v2 API required"), so v2 is always what is asked for first.
 * - Written once: rest-server refuses to overwrite a file with 403, rclone (without
 *   --append-only) silently overwrites it with 200. So save() asks HEAD first and reports
 *   `already_exists` itself. Two savers racing past the HEAD write the same name, which is
 *   the content address of the bytes, so the loser overwrites identical bytes (or, on
 *   rest-server, gets a 403 that a second HEAD turns into `already_exists`). The config
 *   has the same check; two `create`s racing on one path is the remaining gap.
 * - Ranged reads send `Range: bytes=a-b` and never trust the reply's length: rclone
 *   answers a range past the end with a 206 that holds fewer bytes (or none, with a
 *   Content-Range like `bytes 5000-3/4`), rest-server with 416, and a server may ignore
 *   Range and send the whole file (200). Each case becomes exact bytes or `short_read`.
 * - Append-only servers answer DELETE with 403, except for locks (restic must unlock).
 *   That 403 becomes `append_only`; `canDelete` reflects the `appendOnly` option, since
 *   no request can tell before trying.
 *
 * Every request holds one of `connections` slots (the server, not the client, is the
 * bottleneck) and has a deadline (timeoutMs) besides the caller's signal. A deadline or a
 * network failure is retryable; the caller's abort is a CancelledError. Retrying is left
 * to storage/wrappers/retrying-storage.ts.
 */
import { CancelledError, LifeboatError, NotFoundError } from '../../core/errors.ts';
import { mapLimit, Semaphore } from '../../util/semaphore.ts';
import { describeHandle, checkHandle } from '../storage.ts';
import type { CallOptions, FileInfo, FileType, Handle, LoadOptions, Storage, StorageProperties } from '../storage.ts';
import { httpStatusError, requestFailure } from './rest-errors.ts';
import type { RestErrorContext } from './rest-errors.ts';
import { parseRestUrl } from './rest-url.ts';
import type { RestEndpoint } from './rest-url.ts';

export interface RestStorageOptions {
  /** Requests in flight at once, also StorageProperties.connections (default 5). */
  readonly connections?: number;
  /** Deadline of one whole request, body included (default 5 minutes). */
  readonly timeoutMs?: number;
  /** The fetch to use (default the global one); tests inject faults here. */
  readonly fetch?: typeof fetch;
  /** The server runs with --append-only: canDelete is false (deletes of locks still work). */
  readonly appendOnly?: boolean;
  /** Credentials when the URL has none (else LIFEBOAT_REST_USER / LIFEBOAT_REST_PASSWORD). */
  readonly user?: string;
  readonly password?: string;
  /** Where LIFEBOAT_REST_USER / LIFEBOAT_REST_PASSWORD are read (default process.env). */
  readonly env?: NodeJS.ProcessEnv;
}

export const REST_V2 = 'application/vnd.x.restic.rest.v2';
const DEFAULT_CONNECTIONS = 5;
const DEFAULT_TIMEOUT_MS = 5 * 60_000;
const ID_RE = /^[0-9a-f]{64}$/;

/** Opens (does not create) the repository at a `rest:` URL; call create() for a new one. */
export function createRestStorage(url: string, opts: RestStorageOptions = {}): Storage {
  return new RestStorage(url, opts);
}

export class RestStorage implements Storage {
  readonly properties: StorageProperties;
  readonly #endpoint: RestEndpoint;
  readonly #fetch: typeof fetch;
  readonly #timeoutMs: number;
  readonly #slots: Semaphore;

  constructor(url: string, opts: RestStorageOptions = {}) {
    this.#endpoint = parseRestUrl(url, { user: opts.user, password: opts.password }, opts.env ?? process.env);
    const connections = opts.connections ?? DEFAULT_CONNECTIONS;
    if (!Number.isInteger(connections) || connections < 1) throw new RangeError(`connections must be a positive integer, got ${connections}`);
    this.#timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!(this.#timeoutMs > 0)) throw new RangeError(`timeoutMs must be positive, got ${this.#timeoutMs}`);
    this.#fetch = opts.fetch ?? fetch;
    this.#slots = new Semaphore(connections);
    this.properties = { location: this.#endpoint.location, connections, canDelete: opts.appendOnly !== true };
  }

  async create(opts: CallOptions = {}): Promise<void> {
    const ctx = this.#ctx('create', 'config');
    checkSignal(opts.signal, ctx);
    if (await this.#exists({ type: 'config', name: '' }, 'create', opts.signal)) {
      throw new LifeboatError('already_exists', `a repository already exists at ${this.properties.location} (config found)`, {
        hint: 'use the existing repository or choose another path on the server',
        data: { location: this.properties.location },
      });
    }
    await this.#request(ctx, 'POST', `${this.#endpoint.base}?create=true`, {}, opts.signal, async (res) => {
      if (!res.ok) throw await statusError(res, ctx);
      await drain(res);
    });
  }

  async save(h: Handle, data: Uint8Array, opts: CallOptions = {}): Promise<void> {
    checkHandle(h);
    const ctx = this.#ctx('save', describeHandle(h));
    checkSignal(opts.signal, ctx);
    if (await this.#exists(h, 'save', opts.signal)) throw alreadyExists(ctx);
    const forbidden = await this.#request(ctx, 'POST', this.#url(h), { body: data, headers: { 'content-type': 'application/octet-stream' } }, opts.signal, async (res) => {
      if (res.status === 403) return statusError(res, ctx);
      if (!res.ok) throw await statusError(res, ctx);
      await drain(res);
      return undefined;
    });
    if (forbidden === undefined) return;
    // rest-server answers 403 for a name that exists (a concurrent saver won the race);
    // only if the file is still missing is the 403 a refusal to write.
    if (await this.#exists(h, 'save', opts.signal)) throw alreadyExists(ctx);
    throw forbidden;
  }

  async load(h: Handle, opts: LoadOptions = {}): Promise<Buffer> {
    checkHandle(h);
    const ctx = this.#ctx('load', describeHandle(h));
    checkSignal(opts.signal, ctx);
    const offset = opts.offset ?? 0;
    const length = opts.length ?? 0;
    if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
      throw new LifeboatError('invalid_range', `invalid range for ${ctx.what}: offset ${offset}, length ${length}`);
    }
    const headers: Record<string, string> = {};
    if (length > 0) headers.range = `bytes=${offset}-${offset + length - 1}`;
    else if (offset > 0) headers.range = `bytes=${offset}-`;
    return this.#request(ctx, 'GET', this.#url(h), { headers }, opts.signal, (res) => this.#readRange(res, ctx, offset, length));
  }

  /** The requested range out of a GET reply, whatever the server made of the Range header. */
  async #readRange(res: Response, ctx: RestErrorContext, offset: number, length: number): Promise<Buffer> {
    const short = (size: number | undefined): LifeboatError => shortRead(ctx, offset, length, size);
    if (res.status === 416) {
      // Unsatisfiable: the offset is at or past the end. "From the end to the end" is empty, not short.
      const size = parseContentRange(res.headers.get('content-range'))?.size;
      await drain(res);
      if (length === 0 && size !== undefined && offset === size) return Buffer.alloc(0);
      throw short(size);
    }
    if (res.status === 206) {
      const size = parseContentRange(res.headers.get('content-range'))?.size;
      if (size !== undefined && (offset > size || offset + length > size)) {
        await drain(res);
        throw short(size);
      }
      const body = Buffer.from(await res.arrayBuffer());
      const want = length > 0 ? length : size !== undefined ? size - offset : body.length;
      if (body.length < want) throw short(size ?? offset + body.length);
      if (body.length > want) throw protocolError(ctx, `the server sent ${body.length} bytes for a range of ${want}`);
      return body;
    }
    if (res.status === 200) {
      // The server ignored Range (allowed by HTTP) and sent the whole file: cut the range out.
      const whole = Buffer.from(await res.arrayBuffer());
      if (offset === 0 && length === 0) return whole;
      const end = length > 0 ? offset + length : whole.length;
      if (offset > whole.length || end > whole.length) throw short(whole.length);
      return Buffer.from(whole.subarray(offset, end));
    }
    throw await statusError(res, ctx);
  }

  async stat(h: Handle, opts: CallOptions = {}): Promise<FileInfo> {
    checkHandle(h);
    const ctx = this.#ctx('stat', describeHandle(h));
    checkSignal(opts.signal, ctx);
    return this.#request(ctx, 'HEAD', this.#url(h), {}, opts.signal, async (res) => {
      if (!res.ok) throw await statusError(res, ctx);
      const size = parseSize(res.headers.get('content-length'));
      if (size === undefined) throw protocolError(ctx, 'the server sent no Content-Length for HEAD');
      return { name: h.name, size };
    });
  }

  async remove(h: Handle, opts: CallOptions = {}): Promise<void> {
    checkHandle(h);
    const ctx = this.#ctx('remove', describeHandle(h));
    checkSignal(opts.signal, ctx);
    // Sent even when appendOnly is set: append-only servers still delete locks.
    await this.#request(ctx, 'DELETE', this.#url(h), {}, opts.signal, async (res) => {
      if (!res.ok) throw await statusError(res, ctx);
      await drain(res);
    });
  }

  async *list(type: FileType, opts: CallOptions = {}): AsyncGenerator<FileInfo> {
    const ctx = this.#ctx('list', type);
    checkSignal(opts.signal, ctx);
    if (type === 'config') {
      // The protocol has no listing for config; it is listed when present, as elsewhere.
      try {
        yield await this.stat({ type: 'config', name: '' }, opts);
      } catch (err) {
        if (!(err instanceof NotFoundError)) throw err;
      }
      return;
    }
    const listing = await this.#request(ctx, 'GET', `${this.#endpoint.base}${type}/`, { headers: { accept: REST_V2 } }, opts.signal, async (res) => {
      // A repository made by another tool may lack a type's directory: it has no files.
      if (res.status === 404) {
        await drain(res);
        return { v2: [] as FileInfo[] };
      }
      if (!res.ok) throw await statusError(res, ctx);
      const v2 = (res.headers.get('content-type') ?? '').split(';')[0]?.trim() === REST_V2;
      const body = await res.text();
      return v2 ? { v2: parseV2(body, ctx) } : { v1: parseV1(body, ctx) };
    });
    if (listing.v2 !== undefined) {
      for (const fi of listing.v2) yield fi;
      return;
    }
    // API v1: names only. HEAD each for its size (the slots bound the concurrency); a file
    // removed since the listing is skipped, as a listing taken a moment later would.
    const infos = await mapLimit(listing.v1, this.properties.connections, async (name) => {
      try {
        return await this.stat({ type, name }, opts);
      } catch (err) {
        if (err instanceof NotFoundError) return undefined;
        throw err;
      }
    });
    for (const fi of infos) if (fi !== undefined) yield fi;
  }

  async close(): Promise<void> {
    // Nothing to release: connections belong to fetch's shared pool, which closes idle ones.
  }

  /** HEAD: true for 200, false for 404, an error for anything else. */
  async #exists(h: Handle, op: string, signal: AbortSignal | undefined): Promise<boolean> {
    const ctx = this.#ctx(op, describeHandle(h));
    return this.#request(ctx, 'HEAD', this.#url(h), {}, signal, async (res) => {
      if (res.status === 404) return false;
      if (!res.ok) throw await statusError(res, ctx);
      return true;
    });
  }

  /**
   * One HTTP request in one connection slot, under the caller's signal and the deadline.
   * `handle` reads the reply inside the same guard, so a body that breaks off midway or
   * times out is mapped like a failed request.
   */
  async #request<T>(
    ctx: RestErrorContext,
    method: string,
    url: string,
    init: { body?: Uint8Array; headers?: Record<string, string> },
    signal: AbortSignal | undefined,
    handle: (res: Response) => Promise<T>,
  ): Promise<T> {
    await this.#slots.acquire();
    try {
      checkSignal(signal, ctx);
      const deadline = AbortSignal.timeout(this.#timeoutMs);
      const both = signal === undefined ? deadline : AbortSignal.any([signal, deadline]);
      const headers: Record<string, string> = { 'user-agent': 'lifeboat', ...init.headers };
      if (this.#endpoint.authorization !== undefined) headers.authorization = this.#endpoint.authorization;
      try {
        const res = await this.#fetch(url, { method, headers, body: init.body, signal: both });
        return await handle(res);
      } catch (err) {
        throw requestFailure(err, ctx, {
          cancelledBy: signal?.aborted === true ? signal : undefined,
          timeoutMs: deadline.aborted ? this.#timeoutMs : undefined,
        });
      }
    } finally {
      this.#slots.release();
    }
  }

  #url(h: Handle): string {
    return h.type === 'config' ? `${this.#endpoint.base}config` : `${this.#endpoint.base}${h.type}/${h.name}`;
  }

  #ctx(op: string, what: string): RestErrorContext {
    return { op, what, location: this.properties.location };
  }
}

/** The error for a non-success reply, quoting (briefly) what the server said. */
async function statusError(res: Response, ctx: RestErrorContext): Promise<LifeboatError> {
  const body = await res.text().catch(() => '');
  return httpStatusError(res.status, res.statusText, body, ctx);
}

/** Reads and drops a body, so the connection goes back to the pool. */
async function drain(res: Response): Promise<void> {
  if (res.body !== null) await res.body.cancel().catch(() => undefined);
}

function alreadyExists(ctx: RestErrorContext): LifeboatError {
  return new LifeboatError('already_exists', `${ctx.what} in ${ctx.location} already exists; files are written once`, {
    data: { file: ctx.what, location: ctx.location },
  });
}

function shortRead(ctx: RestErrorContext, offset: number, length: number, size: number | undefined): LifeboatError {
  const range = `offset ${offset}, length ${length > 0 ? length : 'to the end'}`;
  const is = size === undefined ? 'is' : `is ${size} bytes,`;
  return new LifeboatError('short_read', `${ctx.what} in ${ctx.location} ${is} shorter than the range requested (${range})`, {
    data: { file: ctx.what, offset, length, size },
    hint: 'the file may be truncated; run "lifeboat check" on the repository',
  });
}

/** A reply that breaks the protocol: permanent, as the same server will answer the same. */
function protocolError(ctx: RestErrorContext, detail: string): LifeboatError {
  return new LifeboatError('io_error', `cannot ${ctx.op} ${ctx.what} in ${ctx.location}: ${detail}`, {
    data: { op: ctx.op, file: ctx.what, location: ctx.location },
    hint: `check that ${ctx.location} is a restic REST server`,
  });
}

/** Content-Range `bytes a-b/SIZE` (or with `*` for a-b); SIZE is undefined when it is `*`. */
export function parseContentRange(header: string | null): { size: number | undefined } | undefined {
  const m = header === null ? null : /^bytes\s+(?:\*|-?\d+--?\d+)\/(\d+|\*)$/i.exec(header.trim());
  if (m === null) return undefined;
  return { size: m[1] === '*' ? undefined : parseSize(m[1]) };
}

function parseSize(text: string | null | undefined): number | undefined {
  if (text === null || text === undefined || !/^\d+$/.test(text.trim())) return undefined;
  const n = Number(text.trim());
  return Number.isSafeInteger(n) ? n : undefined;
}

/** API v2 listing: [{name, size}], names that are not IDs (temporaries, strays) left out. */
function parseV2(body: string, ctx: RestErrorContext): FileInfo[] {
  const items = parseJsonArray(body, ctx);
  const out: FileInfo[] = [];
  for (const item of items) {
    if (typeof item !== 'object' || item === null || !('name' in item) || !('size' in item)) {
      throw protocolError(ctx, 'the v2 listing holds an entry without name and size');
    }
    const { name, size } = item;
    if (typeof name !== 'string' || typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
      throw protocolError(ctx, 'the v2 listing holds an entry with a bad name or size');
    }
    if (ID_RE.test(name)) out.push({ name, size });
  }
  return out;
}

/** API v1 listing: ["name", ...]. */
function parseV1(body: string, ctx: RestErrorContext): string[] {
  const items = parseJsonArray(body, ctx);
  if (!items.every((x): x is string => typeof x === 'string')) throw protocolError(ctx, 'the v1 listing holds a non-string entry');
  return items.filter((n) => ID_RE.test(n));
}

function parseJsonArray(body: string, ctx: RestErrorContext): unknown[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw protocolError(ctx, `the listing is not JSON: ${JSON.stringify(body.slice(0, 80))}`);
  }
  // Some servers answer an empty directory with `null`.
  if (parsed === null) return [];
  if (!Array.isArray(parsed)) throw protocolError(ctx, 'the listing is not a JSON array');
  return parsed as unknown[];
}


function checkSignal(signal: AbortSignal | undefined, ctx: RestErrorContext): void {
  if (signal?.aborted) throw new CancelledError(`${ctx.op} of ${ctx.what} in ${ctx.location} cancelled`, { cause: signal.reason });
}
