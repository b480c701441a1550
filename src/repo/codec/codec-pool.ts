/**
 * The blob codec pool: a few worker threads that do the per-blob CPU work of a repository
 * (zstd, AES-CTR, Poly1305, SHA-256), so that a backup, restore or check keeps every core
 * busy while the main thread reads, chunks, writes and keeps the books.
 *
 * - One pool per process, created on first use; workers start lazily (at the first decode,
 *   when a caller says they will be needed (`prestart`), or once the process has encoded
 *   INLINE_FIRST_BYTES of blobs on its own thread, so that a backup adding a few blobs never
 *   starts one) and are unref'd while idle, so an idle pool never keeps the process alive.
 *   Until a started worker says it is ready, encodes run on the calling thread.
 * - Encode requests are queued and sent in batches (up to ENCODE_BATCH_ITEMS blobs or
 *   ENCODE_BATCH_BYTES), so small files do not pay a thread round trip each. A decode request
 *   is one pack range with the blobs in it; the caller batches.
 * - Each worker has at most IN_FLIGHT batches outstanding; the rest wait here. Callers bound
 *   what they queue (the archiver's windows, the restorer's and checker's read concurrency).
 * - Buffers cross threads by transfer: inputs are copied once to an exact-size ArrayBuffer
 *   (so a caller's buffer, or a storage's, is never detached), results come back as is.
 * - A thread can also chunk a whole file (`chunkFile`, a batch of chunks per request, each
 *   with its SHA-256) or the rest of a stream (`chunkStream`, fed in pieces; the calling
 *   thread, which only reads the stream meanwhile, hashes those chunks while the thread cuts
 *   the next piece): a backup gives it files and streams to chunk while it has little
 *   encoding to do (what an incremental backup reads again is mostly known blobs), so that
 *   two files are chunked on two cores, as restic does with its two file readers.
 * - With LIFEBOAT_CODEC_THREADS=0, or when no worker can be started, the same functions run
 *   inline on the calling thread.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { IntegrityError, LifeboatError } from '../../core/errors.ts';
import { idOf } from '../../core/ids.ts';
import { noteGarbage, release } from '../../util/memory.ts';
import type { MasterKey } from '../crypto/crypto.ts';
import { copyOf, decodeSync, decodeYielding, encodeBlobSync, owned } from './blob-codec.ts';
import type { BlobSlice, Decoded, EncodedBlob } from './blob-codec.ts';

export type { BlobSlice, Decoded };

export interface WireError {
  message: string;
  code?: string;
  hint?: string;
  data?: Record<string, unknown>;
}

export interface EncodeOptions {
  /** zstd in auto mode first (repository format v2). */
  readonly compress: boolean;
  readonly level: number;
  /** The caller is done with the data: move it instead of copying it (it reads as empty after). */
  readonly handOver?: boolean;
  /**
   * Encode on the calling thread: for small blobs the thread round trip costs more than the
   * work (tree blobs), and a command that only needs those never starts a codec thread.
   */
  readonly inline?: boolean;
}

export interface DecodeOptions {
  /** Return the plaintexts; without it the blobs are only verified. */
  readonly keep: boolean;
  /** The caller is done with the buffer: move it instead of copying it. */
  readonly handOver?: boolean;
  /** Decode on the calling thread (see EncodeOptions.inline). */
  readonly inline?: boolean;
  /**
   * The calling thread has time to spare (a check, which only reads): when every codec thread
   * already has its fill of work, decode here instead of waiting in the queue, so both cores
   * work without a second thread's memory. The calling thread decodes a few milliseconds at
   * a time (decodeYielding), so the reads and replies that keep the codec threads fed are not
   * held up behind a whole pack.
   */
  readonly helpInline?: boolean;
  /** Also compute the SHA-256 of the whole buffer (a pack's name), on the same thread. */
  readonly digest?: boolean;
}

export type CodecRequest =
  | { seq: number; op: 'encode'; key: string; compress: boolean; level: number; items: Uint8Array[] }
  | { seq: number; op: 'decode'; key: string; buf: Uint8Array; blobs: BlobSlice[]; keep: boolean; digest: boolean }
  | { seq: number; op: 'chunk'; file: number; open?: { path: string; polynomial: string }; budget: number }
  | { seq: number; op: 'feed'; file: number; polynomial?: string; data?: Uint8Array; end: boolean }
  | { seq: number; op: 'chunk-close'; file: number }
  /**
   * Hash `length` bytes at `at` of the stream's ring (sent with its first request), or end the
   * stream (`end`: reply with the digest).
   */
  | { seq: number; op: 'digest'; stream: number; ring?: SharedArrayBuffer; at: number; length: number; end: boolean };

export type CodecReply =
  | { seq: number; op: 'encode'; sealed: Uint8Array[]; lengths: Array<number | undefined> }
  /** `ids`: the chunks' SHA-256s, left out for a stream (the caller hashes those). */
  | { seq: number; op: 'chunk'; chunks: Uint8Array[]; ids?: string[]; done: boolean }
  | { seq: number; op: 'decode'; results: Array<Uint8Array | WireError | null>; digest?: string }
  | { seq: number; op: 'failed'; error: WireError }
  /** `digest`: the stream's SHA-256 (hex), in the reply to its end. */
  | { seq: number; op: 'digest'; digest?: string }
  /** Sent once, unasked, when a thread has loaded its modules. */
  | { seq: 0; op: 'ready' };

/**
 * The worker's entry: a line of plain JavaScript that turns Node's compile cache on before it
 * imports codec-worker.ts, so a worker reuses the type-stripped, compiled sources instead of
 * loading the TypeScript stripper again (about 30 MiB and 100 ms per thread).
 */
const WORKER_BOOT =
  `try { require('node:module').enableCompileCache?.(); } catch {}\n` +
  `import(${JSON.stringify(new URL(`./codec-worker${workerExtension()}`, import.meta.url).href)});`;

/** `.js` when this module was compiled to dist/ (the npm package), `.ts` in the checkout. */
function workerExtension(): string {
  return import.meta.url.endsWith('.js') ? '.js' : '.ts';
}

const ENCODE_BATCH_ITEMS = 64;
const ENCODE_BATCH_BYTES = 4 * 1024 * 1024;
const IN_FLIGHT = 2;
/** Encode bytes queued (not yet sent to a thread) before `encode` makes callers wait. */
const QUEUE_BYTES = 8 * 1024 * 1024;
/**
 * Bytes of blobs a process encodes on the calling thread before it starts the codec threads:
 * a backup that adds only a few blobs (a dump backed up again with a few rows changed) then
 * never pays a thread's memory (about 23 MiB: a V8 isolate and its modules).
 */
const INLINE_FIRST_BYTES = 16 * 1024 * 1024;
/**
 * Bytes of chunks a thread cuts per `chunkFile` request; one request is kept ahead, so a file
 * holds at most two batches here (plus a chunk's overshoot) beyond what its caller holds.
 */
const CHUNK_BATCH_BYTES = 2 * 1024 * 1024;
/** Bytes of a stream sent to a thread at a time (copied together from the stream's reads). */
const FEED_BYTES = 2 * 1024 * 1024;
const EMPTY = Buffer.alloc(0);
/**
 * The ring a hashed stream's pieces are copied into for its thread: memory shared with it, so
 * a piece costs a copy and no allocation (a fresh buffer per piece, moved to the thread, made
 * the calling thread collect garbage for 0.2 s per 300 MiB). `update` waits when it is full.
 */
const DIGEST_RING_BYTES = 8 * 1024 * 1024;

/** The SHA-256 of a stream given piece by piece, computed on a codec thread. */
export interface StreamDigest {
  /**
   * Adds the next piece (copied: the caller keeps `data`). Resolves at once unless
   * DIGEST_QUEUE_BYTES of pieces still wait for the thread; rejects when the thread failed.
   */
  update(data: Uint8Array): Promise<void>;
  /** The hex SHA-256 of every piece given, in order. */
  digest(): Promise<string>;
  /** Drops the hash on the thread (a reader stopped early); digest() is not called then. */
  close(): void;
}

/** A chunk a codec thread cut from a file: its bytes (the caller's) and its SHA-256. */
export interface FileChunk {
  readonly id: string;
  readonly data: Buffer;
}

interface EncodeJob {
  readonly key: string;
  readonly compress: boolean;
  readonly level: number;
  readonly data: Buffer;
  resolve(e: EncodedBlob): void;
  reject(err: unknown): void;
}

interface DecodeJob {
  readonly key: string;
  readonly buf: Buffer;
  readonly blobs: BlobSlice[];
  readonly keep: boolean;
  readonly digest: boolean;
  resolve(r: Decoded): void;
  reject(err: unknown): void;
}

interface Slot {
  readonly worker: Worker;
  readonly pending: Map<number, (reply: CodecReply) => void>;
  dead: boolean;
  /** It said it is ready (its modules are loaded). */
  loaded: boolean;
}

const tokens = new WeakMap<MasterKey, string>();

function tokenOf(key: MasterKey): string {
  let t = tokens.get(key);
  if (t === undefined) {
    t = Buffer.concat([key.encrypt, key.mac.k, key.mac.r]).toString('hex');
    tokens.set(key, t);
  }
  return t;
}

function fromWire(e: WireError): LifeboatError {
  if (e.code === undefined || e.code === 'integrity') return new IntegrityError(e.message, { hint: e.hint, data: e.data });
  return new LifeboatError(e.code, e.message, { hint: e.hint, data: e.data });
}

function configuredThreads(): number {
  const env = process.env.LIFEBOAT_CODEC_THREADS;
  if (env !== undefined && /^\d+$/.test(env)) return Math.min(Number(env), 16);
  // One worker per core beyond the main thread, which reads, chunks and writes: on two cores
  // one worker keeps both busy, and every extra worker costs tens of MiB (measured: 2 workers
  // were no faster than 1 here and used ~40 MiB more).
  return Math.max(1, Math.min(availableParallelism() - 1, 4));
}

export class CodecPool {
  static #shared: CodecPool | undefined;

  /** The process-wide pool. */
  static shared(): CodecPool {
    CodecPool.#shared ??= new CodecPool(configuredThreads());
    return CodecPool.#shared;
  }

  readonly threads: number;
  readonly #slots: Slot[] = [];
  readonly #encodes: EncodeJob[] = [];
  readonly #decodes: DecodeJob[] = [];
  #seq = 0;
  /** Bytes of encode requests not yet sent to a thread, and who waits for room. */
  #queuedBytes = 0;
  /** Bytes of encode requests sent to threads and not yet answered. */
  #sentBytes = 0;
  /** The last handle given to a file or stream chunked on a thread. */
  #files = 0;
  readonly #roomWaiters: Array<() => void> = [];
  #scheduled = false;
  #failed = false;
  /** Bytes encoded on the calling thread while no codec thread had been started. */
  #encodedBeforeThreads = 0;

  constructor(threads: number) {
    this.threads = threads;
  }

  /**
   * Queues one blob to be compressed (when `compress`, in auto mode) and encrypted, unless
   * more than QUEUE_BYTES already wait: then it returns undefined and leaves `data` alone (the
   * caller waits for `room()`, its backpressure, and tries again). The promise settles when the
   * blob is encoded, so a caller may go on reading while its blobs wait for a thread. `data` is
   * not modified, unless `handOver` says the caller is done with it: then it is moved to a
   * codec thread (or released after an inline encode) instead of copied, and reads as empty
   * afterwards. The first INLINE_FIRST_BYTES a process encodes are encoded here.
   */
  trySubmit(key: MasterKey, data: Uint8Array, opts: EncodeOptions): Promise<EncodedBlob> | undefined {
    const { compress, level, handOver = false } = opts;
    if (opts.inline || this.#encodeFirstHere(data.byteLength) || this.#inline()) {
      let result: Promise<EncodedBlob>;
      try {
        result = Promise.resolve(encodeBlobSync(key, data, compress, level));
      } catch (err) {
        result = Promise.reject(err);
      }
      if (handOver) release(data);
      return result;
    }
    if (!this.hasRoom) return undefined;
    this.#queuedBytes += data.byteLength;
    return new Promise<EncodedBlob>((resolve, reject) => {
      this.#encodes.push({ key: tokenOf(key), compress, level, data: handOver ? owned(data) : copyOf(data), resolve, reject });
      this.#schedule();
    });
  }

  /**
   * Encode here: while no thread was started and little was encoded yet (INLINE_FIRST_BYTES),
   * and while the threads started are still loading (rather than queue work and wait for them).
   */
  #encodeFirstHere(bytes: number): boolean {
    if (this.#slots.length === 0) {
      if (this.#encodedBeforeThreads + bytes > INLINE_FIRST_BYTES) return false;
      this.#encodedBeforeThreads += bytes;
      return true;
    }
    return !this.#failed && !this.#slots.some((s) => s.loaded || s.dead);
  }

  /** Whether an encode request would be queued now, without waiting. */
  get hasRoom(): boolean {
    return this.#queuedBytes <= QUEUE_BYTES;
  }

  /** Resolves once an encode request would be queued without waiting. */
  async room(): Promise<void> {
    while (!this.hasRoom) await new Promise<void>((r) => this.#roomWaiters.push(r));
  }

  /**
   * Verifies and decodes the blobs lying in `buf`. The worker gets a copy, unless `handOver`
   * says the caller is done with `buf`: then a buffer that spans its whole ArrayBuffer is
   * transferred as is (and is empty afterwards). Resolves one entry per blob, in order: the
   * plaintext (null unless `keep`), or the IntegrityError that blob failed with.
   */
  decode(key: MasterKey, buf: Uint8Array, blobs: readonly BlobSlice[], opts: DecodeOptions): Promise<Decoded> {
    const { keep, handOver = false, digest = false } = opts;
    const here = opts.inline || (blobs.length === 0 && !digest) || this.#inline();
    // Helping out: the calling thread has other work, so it decodes a few milliseconds at a time.
    const help = !here && opts.helpInline === true && this.#saturated();
    if (here || help) {
      const out = help ? decodeYielding(key, buf, blobs, keep, digest) : Promise.resolve().then(() => decodeSync(key, buf, blobs, keep, digest));
      return out.then((o) => {
        if (handOver) release(buf);
        return o;
      });
    }
    return new Promise((resolve, reject) => {
      this.#decodes.push({ key: tokenOf(key), buf: handOver ? owned(buf) : copyOf(buf), blobs: [...blobs], keep, digest, resolve, reject });
      this.#schedule();
    });
  }

  /**
   * The threads have their fill: IN_FLIGHT batches each and one more waiting. (Helping at the
   * first sign of a queue took too much work onto the calling thread, which also reads: a
   * check ran 4.5 s instead of 4.2 s here.)
   */
  #saturated(): boolean {
    let room = 0;
    for (const s of this.#slots) if (!s.dead) room += Math.max(0, IN_FLIGHT - s.pending.size);
    return this.#decodes.length > room;
  }

  /**
   * Bytes of blobs waiting to be encoded or being encoded: how much work the threads have
   * ahead of them.
   */
  get encodeBacklog(): number {
    return this.#queuedBytes + this.#sentBytes;
  }

  /**
   * Reads and chunks a file on a codec thread (restic's chunker, with `polynomial`): yields its
   * chunks in order, each with its SHA-256. Undefined when there is no thread to do it (the
   * caller chunks the file itself). A file that cannot be read fails the iteration with the
   * error ("io"); stopping early closes the file on the thread.
   */
  chunkFile(file: string, polynomial: string): AsyncGenerator<FileChunk> | undefined {
    const slot = this.#chunkSlot();
    return slot ? this.#chunkOn(slot, file, polynomial) : undefined;
  }

  /**
   * Chunks the rest of a stream on a codec thread: `first` (the bytes not cut yet where the
   * caller's chunker stopped at a chunk boundary), then what `input` gives. Yields the chunks
   * in order with their SHA-256s; undefined when there is no thread. The pool owns `input`
   * from here (stopping early returns it). Pieces go to the thread in copies of FEED_BYTES.
   */
  chunkStream(first: Uint8Array, input: AsyncIterator<Uint8Array>, polynomial: string): AsyncGenerator<FileChunk> | undefined {
    const slot = this.#chunkSlot();
    return slot ? this.#feedOn(slot, first, input, polynomial) : undefined;
  }

  /**
   * A SHA-256 over a stream's pieces, computed on a codec thread: the end-to-end check of a
   * stack artifact, which on the calling thread would hold up the writes to its restore
   * command and the decoding that thread helps with (docs/performance.md, "Stack restore").
   * The pieces go to one thread, in order; the pool's other work on that thread (decodes)
   * leaves its share to the calling thread through `helpInline`. Undefined when there is no
   * thread (the caller hashes itself).
   */
  digestStream(): StreamDigest | undefined {
    const slot = this.#chunkSlot();
    return slot ? this.#digestOn(slot) : undefined;
  }

  #digestOn(slot: Slot): StreamDigest {
    const handle = ++this.#files;
    let ring: SharedArrayBuffer | undefined;
    let view: Uint8Array | undefined;
    let ringSent = false;
    // Pieces are placed one after the other, wrapping at the end, and hashed in that order, so
    // [head, head + n) is free whenever used + n fits the ring.
    let head = 0;
    let used = 0;
    let failure: LifeboatError | undefined;
    let ended = false;
    const waiters: Array<() => void> = [];
    const ask = (at: number, length: number, end: boolean): Promise<CodecReply> => {
      // A thread that died answers nothing more: its pending requests were failed by `die`.
      if (slot.dead) return Promise.resolve({ seq: -1, op: 'failed', error: { message: 'blob codec thread stopped', code: 'codec_failed' } });
      const first = ring !== undefined && !ringSent;
      ringSent ||= first;
      return new Promise((resolve) => this.#send(slot, { seq: ++this.#seq, op: 'digest', stream: handle, ring: first ? ring : undefined, at, length, end }, [], resolve));
    };
    return {
      update: async (data) => {
        for (let at = 0; at < data.byteLength;) {
          if (failure) throw failure;
          if (!ring) {
            ring = new SharedArrayBuffer(DIGEST_RING_BYTES);
            view = new Uint8Array(ring);
          }
          const n = Math.min(data.byteLength - at, DIGEST_RING_BYTES - head);
          while (used + n > DIGEST_RING_BYTES && !failure) await new Promise<void>((r) => waiters.push(r));
          if (failure) throw failure;
          (view as Uint8Array).set(data.subarray(at, at + n), head);
          const reply = ask(head, n, false);
          used += n;
          head = (head + n) % DIGEST_RING_BYTES;
          at += n;
          void reply.then((r) => {
            used -= n;
            if (r.op === 'failed') failure ??= fromWire(r.error);
            for (const wake of waiters.splice(0)) wake();
          });
        }
        if (failure) throw failure;
      },
      digest: async () => {
        ended = true;
        const reply = await ask(0, 0, true);
        if (failure) throw failure;
        if (reply.op === 'failed') throw fromWire(reply.error);
        if (reply.op !== 'digest' || reply.digest === undefined) throw new Error('unexpected codec reply');
        return reply.digest;
      },
      close: () => {
        if (ended) return;
        ended = true;
        void ask(0, 0, true);
      },
    };
  }

  #chunkSlot(): Slot | undefined {
    if (this.#inline()) return undefined;
    let slot: Slot | undefined;
    for (const s of this.#slots) if (!s.dead && (!slot || s.pending.size < slot.pending.size)) slot = s;
    return slot;
  }

  /** The chunks of a chunk reply as Buffers (the thread's failure thrown). */
  static #chunksOf(reply: CodecReply): { chunks: Buffer[]; ids: string[] | undefined; done: boolean } {
    if (reply.op === 'failed') throw fromWire(reply.error);
    if (reply.op !== 'chunk') throw new Error('unexpected codec reply');
    return { chunks: reply.chunks.map((c) => Buffer.from(c.buffer, c.byteOffset, c.byteLength)), ids: reply.ids, done: reply.done };
  }

  /**
   * Yields the chunks of a reply with their IDs (hashed here when the thread left them out),
   * emptying each slot of `held` as it goes: what is left there when the caller stops early is
   * what it must free.
   */
  static *#handOut(held: Buffer[], ids: readonly string[] | undefined): Generator<FileChunk> {
    for (let i = 0; i < held.length; i++) {
      const data = held[i] as Buffer;
      held[i] = EMPTY;
      yield { id: ids?.[i] ?? idOf(data), data };
    }
  }

  /** Stopped early: drop what the thread still sends and have it close the file or stream. */
  #abandon(slot: Slot, handle: number, replies: Array<Promise<CodecReply>>): void {
    void Promise.all(replies).then((rs) => {
      let open = true;
      for (const r of rs) {
        if (r.op === 'chunk') release(...r.chunks);
        if (r.op !== 'chunk' || r.done) open = false;
      }
      if (open && !slot.dead) this.#send(slot, { seq: ++this.#seq, op: 'chunk-close', file: handle }, [], () => undefined);
    });
  }

  async *#chunkOn(slot: Slot, file: string, polynomial: string): AsyncGenerator<FileChunk> {
    const handle = ++this.#files;
    const ask = (open?: { path: string; polynomial: string }): Promise<CodecReply> =>
      new Promise((resolve) => this.#send(slot, { seq: ++this.#seq, op: 'chunk', file: handle, open, budget: CHUNK_BATCH_BYTES }, [], resolve));
    let next: Promise<CodecReply> | undefined = ask({ path: file, polynomial });
    let held: Buffer[] = [];
    try {
      while (next) {
        const { chunks, ids, done } = CodecPool.#chunksOf(await next);
        next = undefined;
        // The thread cuts the next batch while this one is stored.
        if (!done) next = ask();
        held = chunks;
        yield* CodecPool.#handOut(held, ids);
      }
    } finally {
      release(...held);
      if (next) this.#abandon(slot, handle, [next]);
    }
  }

  async *#feedOn(slot: Slot, first: Uint8Array, input: AsyncIterator<Uint8Array>, polynomial: string): AsyncGenerator<FileChunk> {
    const handle = ++this.#files;
    const asked: Array<Promise<CodecReply>> = [];
    let opened = false;
    const ask = (data: Buffer | undefined, end: boolean): void => {
      const req: CodecRequest = { seq: ++this.#seq, op: 'feed', file: handle, polynomial: opened ? undefined : polynomial, data, end };
      opened = true;
      asked.push(new Promise((resolve) => this.#send(slot, req, data ? [data.buffer as ArrayBuffer] : [], resolve)));
    };
    let piece: Buffer | undefined;
    let fill = 0;
    let held: Buffer[] = [];
    let pending: Uint8Array | undefined = first;
    let inputDone = false;
    let endSent = false;
    let done = false;
    try {
      while (!done) {
        // Read on while fewer than two pieces wait at the thread.
        while (!inputDone && asked.length < 2) {
          if (!pending) {
            const r = await input.next();
            if (r.done) {
              inputDone = true;
              break;
            }
            pending = r.value;
          }
          for (let at = 0; at < pending.length; ) {
            piece ??= Buffer.allocUnsafeSlow(FEED_BYTES);
            const n = Math.min(pending.length - at, FEED_BYTES - fill);
            piece.set(pending.subarray(at, at + n), fill);
            fill += n;
            at += n;
            if (fill === FEED_BYTES) {
              ask(piece, false);
              piece = undefined;
              fill = 0;
            }
          }
          pending = undefined;
        }
        if (inputDone && !endSent) {
          ask(piece?.subarray(0, fill), true);
          piece = undefined;
          endSent = true;
        }
        const reply = CodecPool.#chunksOf(await (asked.shift() as Promise<CodecReply>));
        done = reply.done;
        held = reply.chunks;
        yield* CodecPool.#handOut(held, reply.ids);
      }
    } finally {
      release(...held, piece);
      if (!done) {
        this.#abandon(slot, handle, asked.splice(0));
        await input.return?.();
      }
    }
  }

  /**
   * Starts the codec threads now, for a command that will surely decode or encode data (a
   * restore, a check that reads the packs): their modules then load while the command opens
   * the repository (the key's scrypt, the lock's wait) instead of when the first pack arrives.
   */
  prestart(): void {
    if (this.threads > 0 && !this.#failed && this.#slots.length === 0) this.#start();
  }

  /**
   * Whether a codec thread runs and has loaded its modules (commands that only touch trees
   * start none). A thread still loading them would keep work handed to it waiting.
   */
  get ready(): boolean {
    return this.#slots.some((s) => s.loaded && !s.dead);
  }

  #inline(): boolean {
    if (this.threads === 0 || this.#failed) return true;
    this.prestart();
    return this.#failed;
  }

  #start(): void {
    for (let i = 0; i < this.threads; i++) {
      let worker: Worker;
      try {
        // A worker's JS objects are few and short-lived (its data lives in ArrayBuffers), so a
        // small young generation is collected often and frees those buffers early.
        worker = new Worker(WORKER_BOOT, { eval: true, resourceLimits: { maxYoungGenerationSizeMb: 4 } });
      } catch {
        break;
      }
      const slot: Slot = { worker, pending: new Map(), dead: false, loaded: false };
      worker.on('message', (reply: CodecReply) => {
        slot.loaded = true;
        const done = slot.pending.get(reply.seq);
        slot.pending.delete(reply.seq);
        if (slot.pending.size === 0) worker.unref();
        done?.(reply);
        this.#dispatch();
      });
      const die = (err: unknown): void => {
        if (slot.dead) return;
        slot.dead = true;
        const reply: CodecReply = { seq: -1, op: 'failed', error: { message: `blob codec thread stopped: ${err instanceof Error ? err.message : String(err)}`, code: 'codec_failed' } };
        for (const done of slot.pending.values()) done(reply);
        slot.pending.clear();
        if (this.#slots.every((s) => s.dead)) this.#failAll(err);
        else this.#dispatch();
      };
      worker.on('error', die);
      worker.on('exit', (code) => die(new Error(`exit code ${code}`)));
      // After the listeners: adding a 'message' listener refs the worker again.
      worker.unref();
      this.#slots.push(slot);
    }
    if (this.#slots.length === 0) this.#failed = true;
  }

  /** Every worker is gone: run what is queued (and all later work) inline. */
  #failAll(_err: unknown): void {
    this.#failed = true;
    for (const j of this.#encodes.splice(0)) {
      try {
        j.resolve(encodeBlobSync(this.#keyFromToken(j.key), j.data, j.compress, j.level));
      } catch (err) {
        j.reject(err);
      }
    }
    for (const j of this.#decodes.splice(0)) {
      try {
        j.resolve(decodeSync(this.#keyFromToken(j.key), j.buf, j.blobs, j.keep, j.digest));
      } catch (err) {
        j.reject(err);
      }
    }
  }

  #keyFromToken(token: string): MasterKey {
    const b = Buffer.from(token, 'hex');
    return { encrypt: b.subarray(0, 32), mac: { k: b.subarray(32, 48), r: b.subarray(48, 64) } };
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    // Let the requests of this turn of the event loop gather into batches.
    setImmediate(() => {
      this.#scheduled = false;
      this.#dispatch();
    });
  }

  #dispatch(): void {
    for (;;) {
      if (this.#encodes.length === 0 && this.#decodes.length === 0) return;
      let best: Slot | undefined;
      for (const s of this.#slots) if (!s.dead && s.pending.size < IN_FLIGHT && (!best || s.pending.size < best.pending.size)) best = s;
      if (!best) return;
      // Decodes first: a restore or check waits on them, and they carry their own batch.
      if (this.#decodes.length > 0) this.#sendDecode(best, this.#decodes.shift() as DecodeJob);
      else this.#sendEncodes(best);
    }
  }

  #send(slot: Slot, req: CodecRequest, transfer: ArrayBuffer[], done: (reply: CodecReply) => void): void {
    if (slot.pending.size === 0) slot.worker.ref();
    slot.pending.set(req.seq, done);
    slot.worker.postMessage(req, transfer);
  }

  #sendEncodes(slot: Slot): void {
    const first = this.#encodes[0] as EncodeJob;
    const batch: EncodeJob[] = [];
    let bytes = 0;
    // One batch shares key, mode and level; they are the same for a whole backup.
    while (batch.length < ENCODE_BATCH_ITEMS && bytes < ENCODE_BATCH_BYTES) {
      const j = this.#encodes[0];
      if (!j || j.key !== first.key || j.compress !== first.compress || j.level !== first.level) break;
      this.#encodes.shift();
      batch.push(j);
      bytes += j.data.length;
    }
    this.#queuedBytes -= bytes;
    if (this.#queuedBytes <= QUEUE_BYTES) for (const wake of this.#roomWaiters.splice(0)) wake();
    const req: CodecRequest = { seq: ++this.#seq, op: 'encode', key: first.key, compress: first.compress, level: first.level, items: batch.map((j) => j.data) };
    this.#sentBytes += bytes;
    this.#send(slot, req, batch.map((j) => j.data.buffer as ArrayBuffer), (reply) => {
      this.#sentBytes -= bytes;
      if (reply.op !== 'encode') {
        const err = reply.op === 'failed' ? fromWire(reply.error) : new Error('unexpected codec reply');
        for (const j of batch) j.reject(err);
        return;
      }
      // Each result is written into a pack and dropped soon: let young garbage go promptly.
      noteGarbage(bytes * 2);
      batch.forEach((j, i) => {
        const sealed = reply.sealed[i] as Uint8Array;
        j.resolve({ sealed: Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength), uncompressedLength: reply.lengths[i] });
      });
    });
  }

  #sendDecode(slot: Slot, job: DecodeJob): void {
    const req: CodecRequest = { seq: ++this.#seq, op: 'decode', key: job.key, buf: job.buf, blobs: job.blobs, keep: job.keep, digest: job.digest };
    const size = job.buf.byteLength; // the transfer empties job.buf
    this.#send(slot, req, [job.buf.buffer as ArrayBuffer], (reply) => {
      if (reply.op !== 'decode') {
        job.reject(reply.op === 'failed' ? fromWire(reply.error) : new Error('unexpected codec reply'));
        return;
      }
      noteGarbage(size * 3);
      const results = reply.results.map((r) => {
        if (r === null) return null;
        if (r instanceof Uint8Array) return Buffer.from(r.buffer, r.byteOffset, r.byteLength);
        return fromWire(r);
      });
      job.resolve({ results, digest: reply.digest });
    });
  }
}
