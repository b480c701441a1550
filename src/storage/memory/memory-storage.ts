/**
 * MemoryStorage: a repository held in a Map, for tests and dry runs. It keeps the same
 * contract as the disk and network backends (written once, exact ranges, coded errors,
 * cancellation) so code tested against it behaves the same on real storage.
 *
 * Bytes are copied on save and on load: a caller that reuses its buffer, or scribbles on a
 * loaded one, never changes what is stored.
 */
import { CancelledError, LifeboatError, NotFoundError } from '../../core/errors.ts';
import { describeHandle, filePath, checkHandle } from '../storage.ts';
import type { CallOptions, FileInfo, FileType, Handle, LoadOptions, Storage, StorageProperties } from '../storage.ts';


export function createMemoryStorage(): Storage {
  return new MemoryStorage();
}

export class MemoryStorage implements Storage {
  readonly properties: StorageProperties = { location: 'memory:', connections: 8, canDelete: true };
  /** Keyed by filePath(h), so each type has its own name space as on disk. */
  readonly #files = new Map<string, { readonly type: FileType; readonly name: string; readonly data: Buffer }>();

  async create(opts: CallOptions = {}): Promise<void> {
    await tick(opts.signal, 'create memory repository');
    if (this.#files.has('config')) {
      throw new LifeboatError('already_exists', 'a repository already exists in memory: (config found)', {
        hint: 'use the existing repository or a new memory storage',
      });
    }
  }

  async save(h: Handle, data: Uint8Array, opts: CallOptions = {}): Promise<void> {
    checkHandle(h);
    // Copy before yielding: the caller may reuse its buffer as soon as save() returns a promise.
    const copy = Buffer.from(data);
    await tick(opts.signal, `save ${describeHandle(h)}`);
    const key = filePath(h);
    if (this.#files.has(key)) {
      throw new LifeboatError('already_exists', `${describeHandle(h)} in memory: already exists; files are written once`, {
        data: { file: describeHandle(h) },
      });
    }
    this.#files.set(key, { type: h.type, name: h.name, data: copy });
  }

  async load(h: Handle, opts: LoadOptions = {}): Promise<Buffer> {
    checkHandle(h);
    const what = describeHandle(h);
    await tick(opts.signal, `load ${what}`);
    const offset = opts.offset ?? 0;
    const length = opts.length ?? 0;
    if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
      throw new LifeboatError('invalid_range', `invalid range for ${what}: offset ${offset}, length ${length}`);
    }
    const data = this.#get(h).data;
    const end = length > 0 ? offset + length : data.length;
    if (offset > data.length || end > data.length) {
      const range = `offset ${offset}, length ${length > 0 ? length : 'to the end'}`;
      throw new LifeboatError('short_read', `${what} in memory: is ${data.length} bytes, shorter than the range requested (${range})`, {
        data: { file: what, offset, length, size: data.length },
      });
    }
    return Buffer.from(data.subarray(offset, end));
  }

  async stat(h: Handle, opts: CallOptions = {}): Promise<FileInfo> {
    checkHandle(h);
    await tick(opts.signal, `stat ${describeHandle(h)}`);
    return { name: h.name, size: this.#get(h).data.length };
  }

  async remove(h: Handle, opts: CallOptions = {}): Promise<void> {
    checkHandle(h);
    await tick(opts.signal, `remove ${describeHandle(h)}`);
    this.#get(h);
    this.#files.delete(filePath(h));
  }

  async *list(type: FileType, opts: CallOptions = {}): AsyncGenerator<FileInfo> {
    await tick(opts.signal, `list ${type}`);
    // A snapshot of the names: saves and removes during the listing do not disturb it.
    const entries = [...this.#files.values()].filter((f) => f.type === type);
    for (const f of entries) {
      if (opts.signal?.aborted) throw new CancelledError(`list ${type} cancelled`, { cause: opts.signal.reason });
      yield { name: f.name, size: f.data.length };
    }
  }

  async close(): Promise<void> {
    // Nothing to release; the contents stay until the object is dropped.
  }

  #get(h: Handle): { readonly data: Buffer } {
    const f = this.#files.get(filePath(h));
    if (f === undefined) throw new NotFoundError(`${describeHandle(h)} in memory: not found`, { data: { file: describeHandle(h) } });
    return f;
  }
}

/** Yields to the event loop like real I/O would, then honours the signal. */
async function tick(signal: AbortSignal | undefined, what: string): Promise<void> {
  if (signal?.aborted) throw new CancelledError(`${what} cancelled`, { cause: signal.reason });
  await new Promise<void>((resolve) => setImmediate(resolve));
  if (signal?.aborted) throw new CancelledError(`${what} cancelled`, { cause: signal.reason });
}

