/**
 * Translation of HTTP answers and fetch failures into LifeboatErrors at the REST backend's
 * boundary, where it is known whether another attempt may help (storage/wrappers/retrying-storage.ts
 * only trusts `retryable`):
 *
 * - no answer at all (refused, reset, DNS, TLS, a dropped body), a timeout, 408, 429 and
 *   5xx except 501: the server or the path to it may recover → retryable `storage_unavailable`;
 * - 401 and 403: wrong credentials or no right to do this → `permission_denied`; a 403 on
 *   DELETE is the append-only refusal → `append_only`;
 * - 413 and 507: the server is out of space or over its quota → `storage_full`;
 * - anything else is a permanent `io_error` naming the status.
 *
 * Messages name the operation, the file and the repository location, which never carries
 * credentials; the server's own error text is quoted, shortened, as it may help.
 */
import { CancelledError, LifeboatError, NotFoundError } from '../../core/errors.ts';

export interface RestErrorContext {
  /** `save`, `load`, `stat`, `remove`, `list`, `create`. */
  readonly op: string;
  /** The object: `data/3fa1…`, `config`, or a type for list. */
  readonly what: string;
  /** `rest:http://host:port/path/`, never with credentials. */
  readonly location: string;
}

/** Statuses after which the same request can succeed moments later. */
const TRANSIENT_STATUS = new Set([408, 425, 429, 500, 502, 503, 504]);
const MAX_BODY_IN_MESSAGE = 200;

/** An HTTP answer that is not a success of the request. */
export function httpStatusError(status: number, statusText: string, body: string, ctx: RestErrorContext): LifeboatError {
  const at = `${ctx.what} in ${ctx.location}`;
  const said = describeStatus(status, statusText, body);
  const data = { op: ctx.op, file: ctx.what, location: ctx.location, status };
  if (status === 404) return new NotFoundError(`${at} not found`, { data });
  if (status === 401) {
    return new LifeboatError('permission_denied', `cannot ${ctx.op} ${at}: the server refused the credentials (${said})`, {
      data,
      hint: 'check the user and password in the rest: URL (rest:http://user:password@host:port/path/) or in LIFEBOAT_REST_USER and LIFEBOAT_REST_PASSWORD',
    });
  }
  if (status === 403 && ctx.op === 'remove') return appendOnlyError(ctx, said, data);
  if (status === 403) {
    return new LifeboatError('permission_denied', `cannot ${ctx.op} ${at}: the server forbids it (${said})`, {
      data,
      hint: 'check that the REST server account may write this repository (and that the server is not read-only)',
    });
  }
  if (status === 413 || status === 507) {
    return new LifeboatError('storage_full', `cannot ${ctx.op} ${at}: the server is out of space or over its quota (${said})`, {
      data,
      hint: `free space or raise the quota of the REST server at ${ctx.location}, then run the command again`,
    });
  }
  if (TRANSIENT_STATUS.has(status) || (status >= 500 && status !== 501)) {
    return new LifeboatError('storage_unavailable', `cannot ${ctx.op} ${at}: the server answered ${said}`, {
      data,
      retryable: true,
      hint: `check the REST server at ${ctx.location} and its logs; the command can be run again`,
    });
  }
  return new LifeboatError('io_error', `cannot ${ctx.op} ${at}: the server answered ${said}`, {
    data,
    hint: `check that ${ctx.location} is a restic REST server and the repository path is right`,
  });
}

/** A 403 on DELETE: restic's REST servers run with --append-only refuse it this way. */
export function appendOnlyError(ctx: RestErrorContext, said: string, data: Record<string, unknown>): LifeboatError {
  return new LifeboatError('append_only', `cannot remove ${ctx.what} in ${ctx.location}: the server refuses deletes (${said}); it runs append-only`, {
    data,
    hint: 'run forget/prune against a server (or account) without --append-only, or skip the delete',
  });
}

export interface FailureState {
  /** The caller's signal, if it aborted the request. */
  readonly cancelledBy?: AbortSignal;
  /** The per-request timeout, when it fired. */
  readonly timeoutMs?: number;
}

/** A request that got no usable answer: fetch or the body read threw. */
export function requestFailure(err: unknown, ctx: RestErrorContext, state: FailureState): LifeboatError {
  if (err instanceof LifeboatError) return err;
  const at = `${ctx.what} in ${ctx.location}`;
  const data: Record<string, unknown> = { op: ctx.op, file: ctx.what, location: ctx.location };
  if (state.cancelledBy !== undefined) {
    return new CancelledError(`${ctx.op} of ${at} cancelled`, { cause: state.cancelledBy.reason ?? err, data });
  }
  if (state.timeoutMs !== undefined) {
    return new LifeboatError('storage_unavailable', `cannot ${ctx.op} ${at}: no complete answer within ${state.timeoutMs} ms`, {
      cause: err,
      data: { ...data, timeoutMs: state.timeoutMs },
      retryable: true,
      hint: `check that the REST server at ${ctx.location} is reachable; raise the timeout for slow links`,
    });
  }
  const { code, detail } = rootCause(err);
  if (code !== undefined || isFetchFailure(err)) {
    return new LifeboatError('storage_unavailable', `cannot ${ctx.op} ${at}: ${detail}${code !== undefined && !detail.includes(code) ? ` (${code})` : ''}`, {
      cause: err,
      data: { ...data, errno: code },
      retryable: true,
      hint: `check that the REST server at ${ctx.location} is running and reachable`,
    });
  }
  return new LifeboatError('io_error', `cannot ${ctx.op} ${at}: ${detail}`, { cause: err, data });
}

/** undici reports network failures as TypeError('fetch failed') or ('terminated') with the socket error as cause. */
function isFetchFailure(err: unknown): boolean {
  return err instanceof TypeError && (err.message === 'fetch failed' || err.message === 'terminated');
}

/** The innermost error's code and message: "connect ECONNREFUSED 127.0.0.1:8000", "other side closed". */
function rootCause(err: unknown): { code: string | undefined; detail: string } {
  let code: string | undefined;
  let detail = err instanceof Error ? err.message : String(err);
  let cur: unknown = err;
  for (let depth = 0; depth < 8 && cur !== undefined && cur !== null; depth++) {
    if (typeof cur === 'object' && 'code' in cur && typeof cur.code === 'string') code = cur.code;
    if (cur instanceof Error && cur.message !== '') detail = cur.message;
    // AggregateError (e.g. every address of a host refused) carries the reasons in `errors`.
    const next: unknown = cur instanceof AggregateError && cur.errors.length > 0 ? cur.errors[0] : cur instanceof Error ? cur.cause : undefined;
    cur = next;
  }
  return { code, detail };
}

export function describeStatus(status: number, statusText: string, body: string): string {
  const text = body.replace(/\s+/g, ' ').trim();
  const short = text.length > MAX_BODY_IN_MESSAGE ? `${text.slice(0, MAX_BODY_IN_MESSAGE)}…` : text;
  const head = `${status}${statusText === '' ? '' : ` ${statusText}`}`;
  // Servers often repeat the status text as the body ("Forbidden"); say it once.
  return short === '' || short.toLowerCase() === statusText.toLowerCase() ? head : `${head}: ${short}`;
}
