/**
 * chunkStream: the chunker applied to a byte stream. Each chunk comes out as one Buffer the
 * caller owns (a copy, so input buffers may be reused by their producer). Bytes of a chunk
 * that spans several reads wait in one scratch buffer that grows as needed up to MAX_SIZE and
 * is freed at the end, so memory stays bounded by MAX_SIZE plus the read in hand, whatever the
 * read sizes, and is usually far less (chunks average 1 MiB).
 */
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
 * Splits a byte stream into chunks exactly as restic does; yields each chunk as one Buffer
 * (<= MAX_SIZE). The last chunk is whatever remains (may be < MIN_SIZE; an empty input yields
 * nothing).
 */
export async function* chunkStream(
  input: AsyncIterable<Uint8Array>,
  polynomial: string,
  opts: ChunkStreamOptions = {},
): AsyncGenerator<Buffer> {
  const { signal } = opts;
  checkAborted(signal);
  const chunker = new Chunker(polynomial);
  let scratch: Buffer | undefined;
  let pending = 0; // bytes of the current chunk held in scratch

  try {
    for await (const data of input) {
      checkAborted(signal);
      let pos = 0;
      while (pos < data.length) {
        const cut = chunker.nextSplitPoint(data, pos);
        if (cut < 0) {
          // The chunker has not reached MAX_SIZE, so the rest always fits in MAX_SIZE.
          const need = pending + data.length - pos;
          if (!scratch || scratch.length < need) {
            const grown = Buffer.allocUnsafeSlow(Math.min(MAX_SIZE, Math.max(need, 2 * (scratch?.length ?? 0), 1 << 20)));
            if (scratch) scratch.copy(grown, 0, 0, pending);
            release(scratch);
            scratch = grown;
          }
          scratch.set(data.subarray(pos), pending);
          pending = need;
          break;
        }
        const chunk = Buffer.allocUnsafe(pending + cut - pos);
        if (pending > 0) scratch!.copy(chunk, 0, 0, pending);
        chunk.set(data.subarray(pos, cut), pending);
        pending = 0;
        pos = cut;
        yield chunk;
        checkAborted(signal);
      }
    }
    if (pending > 0) yield Buffer.from(scratch!.subarray(0, pending));
  } finally {
    release(scratch);
  }
}
