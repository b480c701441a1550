/**
 * Translation of Node file-system errors into LifeboatErrors at the local backend's boundary.
 *
 * Whether an error is worth retrying is decided here, where it is born: a full disk or a
 * permission problem will not heal by itself, an interrupted call or a busy NFS server may.
 */
import { CancelledError, LifeboatError, NotFoundError } from '../../core/errors.ts';

/** errno codes after which the same call can succeed moments later. */
const TRANSIENT = new Set(['EAGAIN', 'EBUSY', 'EINTR', 'ETIMEDOUT', 'EIO', 'ESTALE', 'EMFILE', 'ENFILE']);

export interface FsErrorContext {
  /** What was being done, for the message: `save`, `load`, … */
  readonly op: string;
  /** The object, e.g. `data/3fa1…` or `config`. */
  readonly what: string;
  /** Where the repository is, e.g. `local:/srv/repo`. */
  readonly location: string;
  /** The absolute path the call touched (a file or a directory). */
  readonly path: string;
  /** The directory to name when space runs out (default: the parent of `path`). */
  readonly dir?: string;
}

/** The errno code of a Node system error, if it is one. */
export function errnoCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') return err.code;
  return undefined;
}

/** Maps any error thrown by node:fs during a storage call to a LifeboatError. */
export function mapFsError(err: unknown, ctx: FsErrorContext): LifeboatError {
  if (err instanceof LifeboatError) return err;
  const code = errnoCode(err);
  const data = { op: ctx.op, file: ctx.what, path: ctx.path, errno: code };
  const at = `${ctx.what} in ${ctx.location}`;
  switch (code) {
    case 'ENOENT':
      return new NotFoundError(`${at} not found`, { cause: err, data });
    case 'EEXIST':
      return new LifeboatError('already_exists', `${at} already exists; files are written once`, { cause: err, data });
    case 'ENOSPC':
    case 'EDQUOT': {
      const dir = ctx.dir ?? parentOf(ctx.path);
      return new LifeboatError('storage_full', `cannot ${ctx.op} ${at}: ${code === 'EDQUOT' ? 'disk quota exceeded' : 'no space left on device'}`, {
        cause: err,
        data,
        hint: `free space on ${dir}, then run the command again`,
        retryable: false,
      });
    }
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return new LifeboatError('permission_denied', `cannot ${ctx.op} ${at}: ${code === 'EROFS' ? 'read-only file system' : 'permission denied'}`, {
        cause: err,
        data,
        hint: `check that lifeboat may read and write ${ctx.path}`,
        retryable: false,
      });
    case 'ABORT_ERR':
      return new CancelledError(`${ctx.op} of ${at} cancelled`, { cause: err, data });
    default: {
      const detail = err instanceof Error ? err.message : String(err);
      return new LifeboatError('io_error', `cannot ${ctx.op} ${at}: ${detail}`, {
        cause: err,
        data,
        retryable: code !== undefined && TRANSIENT.has(code),
      });
    }
  }
}

function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i > 0 ? path.slice(0, i) : '/';
}
