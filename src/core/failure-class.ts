/**
 * What kind of failure an error is, for whoever decides what happens next (the daemon's
 * retries, a run report's `error_class`):
 *
 *   transient     the store could not be reached or went away (refused, timed out, reset,
 *                 DNS), or the error says `retryable`: trying again later may work.
 *   auth          the store refused the credentials: trying again cannot help; alert.
 *   tool_missing  a dump or restore tool is not installed (spawn ENOENT, shell exit 127): a
 *                 configuration problem of this host; alert.
 *   disk_full     no space (ENOSPC, EDQUOT) on the way: alert, do not retry into a full disk.
 *   other         anything else (a dump that failed, damage found).
 *
 * Decided from what the error carries: codes and errno values anywhere on its cause chain, the
 * HTTP status in its data, `retryable`, and the exit code of a tool. Client tools (pg_dump,
 * mariadb-dump, redis-cli…) report only in text on stderr, which sources put in the message;
 * for those alone a short list of their well-known phrases is the boundary translation.
 */
import { LifeboatError } from './errors.ts';

export type FailureClass = 'transient' | 'auth' | 'tool_missing' | 'disk_full' | 'other';

const NETWORK_ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND', 'EPIPE', 'ECONNABORTED', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_SOCKET']);
const DISK_ERRNO = new Set(['ENOSPC', 'EDQUOT']);
/** Transport codes (core/errors.ts TransportError): the engine or container is not there right now. */
const TRANSIENT_CODES = new Set(['transport_unreachable', 'container_not_running']);

/** The phrases of client tools' stderr (libpq, MariaDB client, redis-cli, Neo4j, HTTP stores). */
const TOOL_TEXT: ReadonlyArray<readonly [RegExp, FailureClass]> = [
  [/No space left on device|Disk quota exceeded/i, 'disk_full'],
  [/password authentication failed|authentication failed|Access denied for user|WRONGPASS|NOAUTH|invalid username or password/i, 'auth'],
  [/\btool not found\b|command not found|: not found$/im, 'tool_missing'],
  [/could not connect to server|connection refused|Can't connect to (local )?(MySQL|MariaDB )?server|Unknown (MySQL|MariaDB) server host|could not translate host name|timeout expired|Connection timed out|Lost connection to (MySQL|MariaDB)? ?server|server closed the connection unexpectedly/i, 'transient'],
];

export function failureClassOf(err: unknown): FailureClass {
  let retryable = false;
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    const errno = (e as NodeJS.ErrnoException).code;
    const syscall = (e as NodeJS.ErrnoException).syscall;
    if (errno !== undefined && DISK_ERRNO.has(errno)) return 'disk_full';
    if (errno === 'ENOENT' && typeof syscall === 'string' && syscall.startsWith('spawn')) return 'tool_missing';
    if (errno !== undefined && NETWORK_ERRNO.has(errno)) return 'transient';
    if (e instanceof LifeboatError) {
      if (TRANSIENT_CODES.has(e.code)) return 'transient';
      // A tool's exit status is `code` (database clients) or `exitCode` (command sources); 127: not found.
      const data = (e.data ?? {}) as { code?: unknown; exitCode?: unknown; status?: unknown };
      if (data.code === 127 || data.exitCode === 127) return 'tool_missing';
      if (data.status === 401 || data.status === 403) return 'auth';
      if (e.code === 'source') {
        for (const [re, cls] of TOOL_TEXT) if (re.test(e.message)) return cls;
      }
      retryable ||= e.retryable;
    }
  }
  return retryable ? 'transient' : 'other';
}
