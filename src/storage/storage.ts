/**
 * Storage: where the repository's files live (local disk, S3, a restic REST server, memory).
 *
 * A Storage knows nothing of the repository format: it stores named, immutable files of a
 * few types in restic's layout (`config`, `keys/<id>`, `locks/<id>`, `snapshots/<id>`,
 * `index/<id>`, `data/<id[0:2]>/<id>`). Retry, fault injection and logging are wrappers of
 * this same interface (storage/wrappers/).
 *
 * Contract every implementation keeps (test/suites/storage-suite.ts checks it):
 * - `save` is atomic: a reader sees the whole file or no file, never a prefix; after `save`
 *   resolves, the file is durable and visible to `load`, `stat` and `list` (read-after-write).
 *   Saving a name that exists fails with an error with code `already_exists`, `config`
 *   included: content-addressed files are written once, and the config never changes.
 * - `load` of a missing file, `stat` of a missing file and `remove` of a missing file throw
 *   NotFoundError (core/errors.ts). `load` returns exactly the requested range; a range
 *   that runs past the end of the file throws a LifeboatError with code `short_read`.
 * - `list` yields every file of a type once, in no particular order.
 * - Transient failures (network, 5xx, timeouts) are LifeboatErrors with retryable=true;
 *   permanent ones (ENOSPC, EACCES, 4xx) have retryable=false.
 * - Every method honours `signal`: an aborted call rejects with a LifeboatError of code
 *   `cancelled` (CancelledError) and a cancelled `save` leaves no file.
 * - `list('config')` yields the config (name '') when it exists.
 */

import { CancelledError, LifeboatError } from '../core/errors.ts';

export const FILE_TYPES = ['config', 'keys', 'locks', 'snapshots', 'index', 'data'] as const;
export type FileType = (typeof FILE_TYPES)[number];

/** Names one file. `name` is a 64-hex-char ID; for `config` it is the empty string. */
export interface Handle {
  readonly type: FileType;
  readonly name: string;
}

export interface FileInfo {
  readonly name: string;
  readonly size: number;
}

export interface StorageProperties {
  /** Where this is, for messages: `local:/srv/repo`, `s3:…` (never with credentials). */
  readonly location: string;
  /** How many requests may usefully run at once. */
  readonly connections: number;
  /** Whether `remove` works (false on append-only REST servers). */
  readonly canDelete: boolean;
}

export interface CallOptions {
  readonly signal?: AbortSignal;
}

export interface LoadOptions extends CallOptions {
  /** Byte offset to start at (default 0). */
  readonly offset?: number;
  /** Number of bytes to read; 0 or undefined means "to the end". */
  readonly length?: number;
}

export interface Storage {
  readonly properties: StorageProperties;
  /** Creates the layout of an empty repository; fails with `already_exists` if a config is there. */
  create(opts?: CallOptions): Promise<void>;
  /** Writes a file atomically and durably (see the contract above). */
  save(h: Handle, data: Uint8Array, opts?: CallOptions): Promise<void>;
  /** Reads a file or a range of it. */
  load(h: Handle, opts?: LoadOptions): Promise<Buffer>;
  stat(h: Handle, opts?: CallOptions): Promise<FileInfo>;
  remove(h: Handle, opts?: CallOptions): Promise<void>;
  list(type: FileType, opts?: CallOptions): AsyncIterable<FileInfo>;
  close(): Promise<void>;
}

/** The path of a file inside a repository, in restic's layout. */
export function filePath(h: Handle): string {
  if (h.type === 'config') return 'config';
  if (h.type === 'data') return `data/${h.name.slice(0, 2)}/${h.name}`;
  return `${h.type}/${h.name}`;
}

export function describeHandle(h: Handle): string {
  return h.type === 'config' ? 'config' : `${h.type}/${h.name}`;
}

/** Rejects names that are not IDs: they could escape the repository (path traversal). */
export function checkHandle(h: Handle): void {
  const ok = h.type === 'config' ? h.name === '' : /^[0-9a-f]{64}$/.test(h.name);
  if (!ok) {
    throw new LifeboatError('invalid_handle', `invalid file name ${JSON.stringify(h.name)} for type ${h.type}`, {
      hint: 'file names are 64 lowercase hex digits; config has an empty name',
    });
  }
}

/** Throws CancelledError when the signal is already aborted (the contract's `cancelled`). */
export function checkSignal(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new CancelledError(`${what} cancelled`, { cause: signal.reason });
}
