/**
 * The chunker applied to a byte stream. Each chunk comes out as one Buffer the caller owns (a
 * copy, so input buffers may be reused by their producer). Bytes of a chunk that spans several
 * reads wait in one scratch buffer that grows as needed up to MAX_SIZE and is freed at the
 * end, so memory stays bounded by MAX_SIZE plus the read in hand, whatever the read sizes, and
 * is usually far less (chunks average 1 MiB).
 *
 * - `ChunkSplitter` is the synchronous core: feed it reads, take the chunks they complete.
 * - `chunkStream` runs it over an async stream (the archiver's streams and files).
 * - `FileChunker` runs it over a file read synchronously, for a thread that may block (the
 *   codec threads chunk whole files this way; see codec-pool.ts). A codec thread can also
 *   take over a stream at a chunk boundary (`ChunkSplitter.rest`).
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { CancelledError } from '../../core/errors.ts';
import { release } from '../../util/memory.ts';
import { Chunker, MAX_SIZE } from './chunker.ts';

export interface ChunkStreamOptions {
  signal?: AbortSignal;
}

function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw new CancelledError('chunking cancelled', { cause: signal.reason });
  }
}

/**
 * Cuts a byte stream into chunks exactly as restic does. The last chunk is whatever remains
 * (may be < MIN_SIZE; an empty input gives none).
 */
export class ChunkSplitter {
  readonly #chunker: Chunker;
  #scratch: Buffer | undefined;
  /** Bytes of the current chunk held in scratch. */
  #pending = 0;
  /** While `cut` waits at a chunk it yielded: the bytes of its read after that chunk. */
  #left: Uint8Array | undefined;

  constructor(polynomial: string) {
    this.#chunker = new Chunker(polynomial);
  }

  /**
   * The chunks that `data` completes, one at a time, each a Buffer of its own. The rest of
   * `data` is kept once the iteration ends, so `data` may be reused after it. (Left early,
   * right after a chunk, the rest is `rest()`'s to take instead.)
   */
  *cut(data: Uint8Array): Generator<Buffer> {
    let pos = 0;
    this.#left = undefined;
    while (pos < data.length) {
      const cut = this.#chunker.nextSplitPoint(data, pos);
      if (cut < 0) {
        // The chunker has not reached MAX_SIZE, so the rest always fits in MAX_SIZE.
        const need = this.#pending + data.length - pos;
        let scratch = this.#scratch;
        if (!scratch || scratch.length < need) {
          const grown = Buffer.allocUnsafeSlow(Math.min(MAX_SIZE, Math.max(need, 2 * (scratch?.length ?? 0), 1 << 20)));
          if (scratch) scratch.copy(grown, 0, 0, this.#pending);
          release(scratch);
          scratch = this.#scratch = grown;
        }
        scratch.set(data.subarray(pos), this.#pending);
        this.#pending = need;
        return;
      }
      const chunk = Buffer.allocUnsafe(this.#pending + cut - pos);
      if (this.#pending > 0) this.#scratch!.copy(chunk, 0, 0, this.#pending);
      chunk.set(data.subarray(pos, cut), this.#pending);
      this.#pending = 0;
      pos = cut;
      this.#left = data.subarray(pos);
      yield chunk;
      this.#left = undefined;
    }
  }

  /**
   * After leaving `cut` right after a chunk: the bytes of that read not cut yet (a view of
   * it). A chunk boundary is where restic's chunker starts afresh, so a new splitter fed these
   * bytes and the rest of the stream cuts exactly what this one would have. This one is closed.
   */
  rest(): Uint8Array {
    const left = this.#left ?? new Uint8Array(0);
    if (this.#pending > 0) throw new Error('ChunkSplitter.rest: not at a chunk boundary');
    this.close();
    return left;
  }

  /** The bytes left over as the last chunk (if any); the scratch buffer is freed. */
  end(): Buffer | undefined {
    const last = this.#pending > 0 ? Buffer.from(this.#scratch!.subarray(0, this.#pending)) : undefined;
    this.close();
    return last;
  }

  /** Frees the scratch buffer (the splitter is not used again). */
  close(): void {
    release(this.#scratch);
    this.#scratch = undefined;
    this.#pending = 0;
    this.#left = undefined;
  }
}

/**
 * Splits a byte stream into chunks exactly as restic does; yields each chunk as one Buffer
 * (<= MAX_SIZE).
 */
export async function* chunkStream(
  input: AsyncIterable<Uint8Array>,
  polynomial: string,
  opts: ChunkStreamOptions = {},
): AsyncGenerator<Buffer> {
  const { signal } = opts;
  checkAborted(signal);
  const splitter = new ChunkSplitter(polynomial);
  try {
    for await (const data of input) {
      checkAborted(signal);
      for (const chunk of splitter.cut(data)) {
        yield chunk;
        checkAborted(signal);
      }
    }
    const last = splitter.end();
    if (last) yield last;
  } finally {
    splitter.close();
  }
}

/** Bytes read from a file at a time. */
export const READ_SIZE = 1 << 20;

/**
 * A file cut into chunks with synchronous reads, a batch at a time: for a thread that may
 * block. Holds one read buffer and the splitter's scratch until the file is done or closed.
 */
export class FileChunker {
  readonly #fd: number;
  readonly #buf = Buffer.allocUnsafeSlow(READ_SIZE);
  readonly #splitter: ChunkSplitter;
  /** The chunks of the read in hand, while some are still to be taken. */
  #cuts: Iterator<Buffer> | undefined;
  #closed = false;

  constructor(file: string, polynomial: string) {
    this.#fd = openSync(file, 'r');
    this.#splitter = new ChunkSplitter(polynomial);
  }

  /**
   * The next chunks: about `budget` bytes of them (at least one, unless the file is done).
   * `done` once the file's last chunk is among them; the file is closed then.
   */
  next(budget: number): { chunks: Buffer[]; done: boolean } {
    const chunks: Buffer[] = [];
    let bytes = 0;
    try {
      while (bytes < budget && !this.#closed) {
        const step = this.#cuts?.next();
        if (step && !step.done) {
          chunks.push(step.value);
          bytes += step.value.length;
          continue;
        }
        this.#cuts = undefined;
        const n = readSync(this.#fd, this.#buf, 0, READ_SIZE, null);
        if (n === 0) {
          const last = this.#splitter.end();
          if (last) chunks.push(last);
          this.close();
        } else {
          this.#cuts = this.#splitter.cut(this.#buf.subarray(0, n));
        }
      }
    } catch (err) {
      this.close();
      release(...chunks);
      throw err;
    }
    return { chunks, done: this.#closed };
  }

  /** Closes the file and frees the buffers (again is a no-op). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#cuts = undefined;
    this.#splitter.close();
    release(this.#buf);
    closeSync(this.#fd);
  }
}
