/**
 * Translation of AWS SDK and network errors into LifeboatErrors at the S3 backend's boundary.
 *
 * Whether retrying may help is decided here, where the error is born (the SDK itself is set
 * to one attempt; storage/wrappers/retrying-storage.ts does the retrying):
 * - retryable `storage_unavailable`: 5xx, throttling (SlowDown, 429, 503), request timeouts,
 *   a dropped or refused connection, a truncated body;
 * - permanent `permission_denied`: 401/403 and the signature and key errors;
 * - NotFoundError: a missing key (named), or a missing bucket (named, with a hint);
 * - permanent `s3_error` for any other 4xx: retrying the same request gets the same answer.
 * Messages carry the S3 error code and the object, never credentials or request signatures.
 */
import { CancelledError, LifeboatError, NotFoundError } from '../../core/errors.ts';

export interface S3ErrorContext {
  /** What was being done: `save`, `load`, `create`, … */
  readonly op: string;
  /** The object, e.g. `data/3fa1…`, `config`, or `bucket "x"`. */
  readonly what: string;
  /** Where the repository is, e.g. `s3:http://127.0.0.1:9000/bucket/prefix` (no credentials). */
  readonly location: string;
  readonly bucket: string;
  /** The full object key, when the call named one. */
  readonly key?: string;
  readonly signal?: AbortSignal;
}

/** Socket and DNS errors after which the same request may succeed moments later. */
const TRANSIENT_ERRNO = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

/** S3 error codes that mean "try again later" whatever their status. */
const TRANSIENT_CODES = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'RequestThrottled',
  'TooManyRequests',
  'ServiceUnavailable',
  'InternalError',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
  'IncompleteBody',
  // The body the server received does not hash to what was sent: corruption in transit.
  'BadDigest',
  'XAmzContentSHA256Mismatch',
  // A concurrent conditional write won; the retry gets a definite answer.
  'ConditionalRequestConflict',
  'OperationAborted',
]);

const DENIED_CODES = new Set([
  'AccessDenied',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'InvalidToken',
  'ExpiredToken',
  'TokenRefreshRequired',
  'AllAccessDisabled',
  'AccountProblem',
  'InvalidSecurity',
  'CredentialsProviderError',
]);

const CREDENTIALS_HINT =
  'check the S3 credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN or the AWS profile) and that they may read, write, list and delete in the bucket';

interface SdkLikeError {
  readonly name?: string;
  readonly code?: string;
  readonly message?: string;
  readonly $metadata?: { readonly httpStatusCode?: number };
  readonly $fault?: string;
  readonly Code?: string;
}

function asSdkError(err: unknown): SdkLikeError {
  return typeof err === 'object' && err !== null ? (err as SdkLikeError) : {};
}

/** The S3 error code (`NoSuchKey`, `SlowDown`, …) or the errno code of a network error. */
export function s3ErrorCode(err: unknown): string | undefined {
  const e = asSdkError(err);
  if (typeof e.Code === 'string') return e.Code;
  if (typeof e.code === 'string') return e.code;
  // The SDK names service errors after their code; a plain Error is not informative.
  if (typeof e.name === 'string' && e.name !== 'Error') return e.name;
  return undefined;
}

export function s3HttpStatus(err: unknown): number | undefined {
  const status = asSdkError(err).$metadata?.httpStatusCode;
  return typeof status === 'number' ? status : undefined;
}

/** A network-level failure: no HTTP answer at all (reset, refused, hang-up, timeout). */
function isNetworkError(err: unknown, code: string | undefined): boolean {
  if (code !== undefined && TRANSIENT_ERRNO.has(code)) return true;
  const msg = asSdkError(err).message ?? '';
  return /socket hang up|ECONNRESET|premature close|aborted|other side closed|write after end/i.test(msg);
}

/** Whether an SDK error is a "this key is not there" answer. */
export function isMissingKey(err: unknown): boolean {
  const code = s3ErrorCode(err);
  if (code === 'NoSuchBucket') return false;
  return code === 'NoSuchKey' || code === 'NotFound' || s3HttpStatus(err) === 404;
}

/** Maps any error thrown during an S3 call to a LifeboatError. */
export function mapS3Error(err: unknown, ctx: S3ErrorContext): LifeboatError {
  if (err instanceof LifeboatError) return err;
  const at = `${ctx.what} in ${ctx.location}`;
  const code = s3ErrorCode(err);
  const status = s3HttpStatus(err);
  const data: Record<string, unknown> = { op: ctx.op, file: ctx.what, bucket: ctx.bucket, key: ctx.key, s3Code: code, httpStatus: status };
  if (ctx.signal?.aborted === true || code === 'AbortError' || code === 'ABORT_ERR') {
    return new CancelledError(`${ctx.op} of ${at} cancelled`, { cause: err, data });
  }
  const detail = describe(code, status, err);

  if (code === 'NoSuchBucket') {
    return new NotFoundError(`cannot ${ctx.op} ${at}: bucket "${ctx.bucket}" does not exist`, {
      cause: err,
      data,
      hint: `create the bucket, or run "lifeboat init" which creates it, or check the bucket name in the repository URL`,
    });
  }
  if (isMissingKey(err)) {
    const key = ctx.key === undefined ? '' : ` (key "${ctx.key}")`;
    return new NotFoundError(`${at} not found${key}`, { cause: err, data });
  }
  if ((code !== undefined && DENIED_CODES.has(code)) || status === 401 || status === 403) {
    return new LifeboatError('permission_denied', `cannot ${ctx.op} ${at}: access denied by S3 (${detail})`, {
      cause: err,
      data,
      hint: CREDENTIALS_HINT,
      retryable: false,
    });
  }
  if (code === 'PreconditionFailed' || status === 412) {
    return new LifeboatError('already_exists', `${at} already exists; files are written once`, { cause: err, data });
  }
  if (code === 'InvalidRange' || status === 416) {
    return new LifeboatError('short_read', `${at} is shorter than the range requested`, {
      cause: err,
      data,
      hint: 'the file may be truncated; run "lifeboat check" on the repository',
    });
  }
  const transient =
    (code !== undefined && TRANSIENT_CODES.has(code)) ||
    (status !== undefined && (status >= 500 || status === 408 || status === 429)) ||
    (status === undefined && isNetworkError(err, code));
  if (transient) {
    return new LifeboatError('storage_unavailable', `cannot ${ctx.op} ${at}: ${detail}`, {
      cause: err,
      data,
      hint: 'the S3 server is unreachable, overloaded or failing; lifeboat retries, then run the command again later',
      retryable: true,
    });
  }
  if (code === 'ENOTFOUND') {
    return new LifeboatError('storage_unavailable', `cannot ${ctx.op} ${at}: the S3 endpoint's host name does not resolve`, {
      cause: err,
      data,
      hint: 'check the host in the repository URL',
      retryable: false,
    });
  }
  if (code === 'PermanentRedirect' || code === 'AuthorizationHeaderMalformed' || code === 'IllegalLocationConstraintException' || status === 301) {
    return new LifeboatError('s3_error', `cannot ${ctx.op} ${at}: the bucket is in another region (${detail})`, {
      cause: err,
      data,
      hint: 'set the bucket\'s region (AWS_DEFAULT_REGION or the region option)',
      retryable: false,
    });
  }
  return new LifeboatError('s3_error', `cannot ${ctx.op} ${at}: ${detail}`, { cause: err, data, retryable: false });
}

function describe(code: string | undefined, status: number | undefined, err: unknown): string {
  const parts: string[] = [];
  if (code !== undefined) parts.push(code);
  if (status !== undefined) parts.push(`HTTP ${status}`);
  const msg = asSdkError(err).message;
  // SDK messages for bodiless answers are "UnknownError"; they add nothing.
  if (typeof msg === 'string' && msg !== '' && msg !== 'UnknownError' && msg !== code) parts.push(msg);
  return parts.length > 0 ? parts.join(', ') : String(err);
}
