/**
 * LocalStorage: a repository in a directory, in restic's layout (`config`, `keys/`, `locks/`,
 * `snapshots/`, `index/`, `data/00..ff/`), so the restic CLI can read what lifeboat writes.
 *
 * A save writes a temporary file (`.tmp-…`) beside its final name, fsyncs it, then links it
 * into place and fsyncs the directory. link(2), unlike rename(2), fails when the name exists,
 * which gives "written once" without a check-then-write race; on file systems without hard
 * links it falls back to a checked rename. Files end up read-only, as restic leaves them.
 * list() reports only names of 64 hex digits in the right place, so temporaries of an
 * interrupted save and stray files stay invisible (reporting those is the checker's job).
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { LifeboatError } from '../../core/errors.ts';
import { describeHandle, filePath, checkHandle, checkSignal } from '../storage.ts';
import type { CallOptions, FileInfo, FileType, Handle, LoadOptions, Storage, StorageProperties } from '../storage.ts';
import { errnoCode, mapFsError } from './fs-errors.ts';

const ID_RE = /^[0-9a-f]{64}$/;
const TMP_PREFIX = '.tmp-';
/** Reads of a large range go in slices so that an abort is noticed between them. */
const READ_SLICE = 8 << 20;
/** Files are read-only once written; the umask may take away more. */
const FILE_MODE = 0o444;
const DIR_MODE = 0o777;
/** Directory calls issued at once by create() and list(); the libuv pool runs a few at a time. */
const BATCH = 32;
/** link(2) errors that mean "this file system has no hard links", not "you may not". */
const NO_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV', 'EMLINK']);

/** Opens (does not create) a repository directory; call create() for a new one. */
export function createLocalStorage(root: string): Storage {
  return new LocalStorage(root);
}

export class LocalStorage implements Storage {
  readonly properties: StorageProperties;
  readonly root: string;

  constructor(root: string) {
    this.root = path.resolve(root);
    this.properties = { location: `local:${this.root}`, connections: 2, canDelete: true };
  }

  async create(opts: CallOptions = {}): Promise<void> {
    checkSignal(opts.signal, `create ${this.properties.location}`);
    const config = path.join(this.root, 'config');
    const exists = await fs.lstat(config).then(
      () => true,
      (err: unknown) => {
        if (errnoCode(err) === 'ENOENT') return false;
        throw this.#fail(err, 'create', 'config', config);
      },
    );
    if (exists) {
      throw new LifeboatError('already_exists', `a repository already exists at ${this.properties.location} (config found)`, {
        hint: 'use the existing repository or choose an empty directory',
        data: { path: config },
      });
    }
    const mkdir = (dir: string): Promise<unknown> =>
      fs.mkdir(dir, { recursive: true, mode: DIR_MODE }).catch((err: unknown) => {
        throw this.#fail(err, 'create', 'repository layout', dir);
      });
    await Promise.all(['keys', 'locks', 'snapshots', 'index', 'data'].map((d) => mkdir(path.join(this.root, d))));
    for (let batch = 0; batch < 256; batch += BATCH) {
      checkSignal(opts.signal, `create ${this.properties.location}`);
      const subdirs = Array.from({ length: BATCH }, (_, i) => path.join(this.root, 'data', (batch + i).toString(16).padStart(2, '0')));
      await Promise.all(subdirs.map(mkdir));
    }
  }

  async save(h: Handle, data: Uint8Array, opts: CallOptions = {}): Promise<void> {
    checkHandle(h);
    const what = describeHandle(h);
    checkSignal(opts.signal, `save ${what}`);
    const final = this.#path(h);
    const dir = path.dirname(final);
    const tmp = path.join(dir, `${TMP_PREFIX}${h.name || h.type}-${randomBytes(6).toString('hex')}`);
    try {
      await this.#writeTemp(tmp, dir, data, opts.signal, what);
      // The commit point: after this the file is visible, before it nothing is.
      checkSignal(opts.signal, `save ${what}`);
      await publish(tmp, final);
    } catch (err) {
      await fs.rm(tmp, { force: true }).catch(() => undefined); // best effort: list ignores temporaries anyway
      throw this.#fail(err, 'save', what, final);
    }
    await fs.rm(tmp, { force: true }).catch(() => undefined); // the data is safe under its final name
    try {
      await syncDir(dir);
    } catch (err) {
      throw this.#fail(err, 'save', what, dir);
    }
  }

  async #writeTemp(tmp: string, dir: string, data: Uint8Array, signal: AbortSignal | undefined, what: string): Promise<void> {
    let fh: fs.FileHandle;
    try {
      fh = await fs.open(tmp, 'wx', FILE_MODE);
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err;
      // A data/xx directory may be missing (deleted, or a repository made by another tool).
      await fs.mkdir(dir, { recursive: true, mode: DIR_MODE });
      fh = await fs.open(tmp, 'wx', FILE_MODE);
    }
    try {
      let done = 0;
      while (done < data.length) {
        checkSignal(signal, `save ${what}`);
        const { bytesWritten } = await fh.write(data, done, Math.min(data.length - done, READ_SLICE));
        done += bytesWritten;
      }
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  async load(h: Handle, opts: LoadOptions = {}): Promise<Buffer> {
    checkHandle(h);
    const what = describeHandle(h);
    checkSignal(opts.signal, `load ${what}`);
    const offset = opts.offset ?? 0;
    const length = opts.length ?? 0;
    if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
      throw new LifeboatError('invalid_range', `invalid range for ${what}: offset ${offset}, length ${length}`);
    }
    const file = this.#path(h);
    let fh: fs.FileHandle;
    try {
      fh = await fs.open(file, 'r');
    } catch (err) {
      throw this.#fail(err, 'load', what, file);
    }
    try {
      const size = (await fh.stat()).size;
      const want = length > 0 ? length : size - offset;
      if (want < 0 || offset + want > size) throw shortRead(what, this.properties.location, offset, length, size);
      const buf = Buffer.allocUnsafe(want);
      let got = 0;
      while (got < want) {
        checkSignal(opts.signal, `load ${what}`);
        const { bytesRead } = await fh.read(buf, got, Math.min(want - got, READ_SLICE), offset + got);
        // The file shrank under us: report it rather than return a prefix.
        if (bytesRead === 0) throw shortRead(what, this.properties.location, offset, length, offset + got);
        got += bytesRead;
      }
      return buf;
    } catch (err) {
      throw this.#fail(err, 'load', what, file);
    } finally {
      await fh.close();
    }
  }

  async stat(h: Handle, opts: CallOptions = {}): Promise<FileInfo> {
    checkHandle(h);
    const what = describeHandle(h);
    checkSignal(opts.signal, `stat ${what}`);
    const file = this.#path(h);
    try {
      const st = await fs.stat(file);
      return { name: h.name, size: st.size };
    } catch (err) {
      throw this.#fail(err, 'stat', what, file);
    }
  }

  async remove(h: Handle, opts: CallOptions = {}): Promise<void> {
    checkHandle(h);
    const what = describeHandle(h);
    checkSignal(opts.signal, `remove ${what}`);
    const file = this.#path(h);
    try {
      // Read-only files unlink fine on POSIX: the permission that counts is the directory's.
      await fs.unlink(file);
    } catch (err) {
      throw this.#fail(err, 'remove', what, file);
    }
  }

  async *list(type: FileType, opts: CallOptions = {}): AsyncGenerator<FileInfo> {
    checkSignal(opts.signal, `list ${type}`);
    if (type === 'config') {
      // The only file of its type; listed when present so list() means the same for every type.
      try {
        yield await this.stat({ type: 'config', name: '' }, opts);
      } catch (err) {
        if (!(err instanceof LifeboatError && err.code === 'not_found')) throw err;
      }
      return;
    }
    const base = path.join(this.root, type);
    if (type !== 'data') {
      yield* this.#listDir(base, type, undefined, opts.signal);
      return;
    }
    for (const sub of await this.#readdir(base, type)) {
      if (/^[0-9a-f]{2}$/.test(sub)) yield* this.#listDir(path.join(base, sub), type, sub, opts.signal);
    }
  }

  /** Files of one directory whose names are IDs (and, under data/, start with `prefix`). */
  async *#listDir(dir: string, type: FileType, prefix: string | undefined, signal: AbortSignal | undefined): AsyncGenerator<FileInfo> {
    const names = (await this.#readdir(dir, type)).filter((n) => ID_RE.test(n) && (prefix === undefined || n.startsWith(prefix)));
    for (let i = 0; i < names.length; i += BATCH) {
      checkSignal(signal, `list ${type}`);
      const infos = await Promise.all(names.slice(i, i + BATCH).map((name) => this.#statEntry(dir, name, type)));
      for (const fi of infos) if (fi !== undefined) yield fi;
    }
  }

  /** Size of a listed entry; undefined for one removed meanwhile or not a regular file. */
  async #statEntry(dir: string, name: string, type: FileType): Promise<FileInfo | undefined> {
    try {
      const st = await fs.stat(path.join(dir, name));
      return st.isFile() ? { name, size: st.size } : undefined;
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return undefined;
      throw this.#fail(err, 'list', type, path.join(dir, name));
    }
  }

  /** Entry names of a directory; a missing directory has none (as restic treats it). */
  async #readdir(dir: string, type: FileType): Promise<string[]> {
    try {
      return await fs.readdir(dir);
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ENOENT' || code === 'ENOTDIR') return [];
      throw this.#fail(err, 'list', type, dir);
    }
  }

  async close(): Promise<void> {
    // Nothing to release: every call opens and closes its own file handles.
  }

  #path(h: Handle): string {
    return path.join(this.root, filePath(h));
  }

  #fail(err: unknown, op: string, what: string, p: string, dir?: string): LifeboatError {
    return mapFsError(err, { op, what, location: this.properties.location, path: p, dir: dir ?? this.root });
  }
}

/** Moves a complete temporary file to its final name unless that name exists. */
async function publish(tmp: string, final: string): Promise<void> {
  try {
    await fs.link(tmp, final);
    return;
  } catch (err) {
    const code = errnoCode(err);
    if (code === undefined || !NO_LINKS.has(code)) throw err;
  }
  // No hard links here: check, then rename. Two savers of the same content-addressed name
  // write the same bytes, so the remaining race is harmless.
  try {
    await fs.lstat(final);
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw err;
    await fs.rename(tmp, final);
    return;
  }
  throw Object.assign(new Error(`${final} exists`), { code: 'EEXIST' });
}

/** fsync a directory so a new entry in it survives a crash; some file systems refuse it. */
async function syncDir(dir: string): Promise<void> {
  const fh = await fs.open(dir, 'r');
  try {
    await fh.sync();
  } catch (err) {
    const code = errnoCode(err);
    if (code !== 'EINVAL' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EISDIR') throw err;
  } finally {
    await fh.close();
  }
}



function shortRead(what: string, location: string, offset: number, length: number, size: number): LifeboatError {
  const range = `offset ${offset}, length ${length > 0 ? length : 'to the end'}`;
  return new LifeboatError('short_read', `${what} in ${location} is ${size} bytes, shorter than the range requested (${range})`, {
    data: { file: what, offset, length, size },
    hint: 'the file may be truncated; run "lifeboat check" on the repository',
  });
}
