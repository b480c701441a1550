/**
 * S3Storage: a repository in an S3 bucket (AWS, MinIO and other S3-compatible servers), in
 * restic's layout under a key prefix (`<prefix>/config`, `<prefix>/keys/<id>`,
 * `<prefix>/data/<id[0:2]>/<id>`, …), so the restic CLI reads what lifeboat writes with the
 * same `s3:` URL.
 *
 * How the Storage contract maps onto S3:
 * - Atomic save: S3 makes an object visible only once its upload is complete. Files up to
 *   `multipartThreshold` go in one PutObject; larger ones in a multipart upload that is
 *   completed only after every part landed, and aborted (best effort) on any failure, so
 *   no prefix of a file is ever visible. Content-MD5 lets the server refuse a body that was
 *   damaged on the way.
 * - Written once: S3 overwrites silently, so save HEADs the key first and fails with
 *   `already_exists` when it is there. Two concurrent savers of one name can both pass the
 *   HEAD; for content-addressed files both write the same bytes, so that race is harmless.
 *   The config, the one file whose name is not its content, is also sent with
 *   `If-None-Match: *`, which AWS and MinIO enforce (412 = already exists) and some
 *   servers ignore (then the HEAD is all there is).
 * - remove of a missing file: S3 answers 204 to a DELETE of a missing key, so remove HEADs
 *   first to report NotFoundError as the contract asks.
 * - Exact ranges: a Range past the end is clamped by S3 (or refused with 416); both become
 *   `short_read`. A body shorter than its headers announce is a retryable failure.
 * - The SDK makes one attempt (`maxAttempts: 1`) and computes no new-style checksums
 *   (`WHEN_REQUIRED`: many S3-compatible servers reject or store them); retries are the
 *   job of storage/wrappers/retrying-storage.ts, after s3-errors.ts has classified the
 *   failure.
 * - A cancelled save may have reached the server when the abort came during the final
 *   request of the upload; every earlier abort leaves no object.
 */
import { createHash } from 'node:crypto';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import type { BucketLocationConstraint, CompletedPart, S3ClientConfig } from '@aws-sdk/client-s3';
import { LifeboatError } from '../../core/errors.ts';
import { describeHandle, filePath, checkHandle, checkSignal } from '../storage.ts';
import type { CallOptions, FileInfo, FileType, Handle, LoadOptions, Storage, StorageProperties } from '../storage.ts';
import { isMissingKey, mapS3Error, s3ErrorCode, s3HttpStatus } from './s3-errors.ts';

export { parseS3Url, type S3Url } from './s3-url.ts';

export interface S3Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

export interface S3StorageOptions {
  readonly bucket: string;
  /** Key prefix of the repository inside the bucket; '' (default) for the bucket's root. */
  readonly prefix?: string;
  /** `http(s)://host:port` of an S3-compatible server; undefined for AWS. */
  readonly endpoint?: string;
  /** Default: AWS_REGION, AWS_DEFAULT_REGION, else us-east-1. */
  readonly region?: string;
  /** Path-style URLs (`host/bucket/key`); default true when an endpoint is given. */
  readonly forcePathStyle?: boolean;
  /** Default: the SDK's chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE files, …). */
  readonly credentials?: S3Credentials;
  /** Time allowed to open a connection (default 10 s). */
  readonly connectionTimeoutMs?: number;
  /** Time a connection may sit without any byte moving (default 60 s). */
  readonly idleTimeoutMs?: number;
  /** Time allowed for one whole request and its answer (default 10 min; 0 = no limit). */
  readonly requestTimeoutMs?: number;
  /** Files larger than this go in a multipart upload (default 64 MiB). */
  readonly multipartThreshold?: number;
  /** Size of each part of a multipart upload (default 16 MiB, at least 5 MiB as S3 requires). */
  readonly partSize?: number;
  /** Parts of one file uploaded at once (default 4). */
  readonly partConcurrency?: number;
  /** What properties.connections advertises (default 5). */
  readonly connections?: number;
  /** Keys per ListObjectsV2 page (default: the server's, 1000 on AWS). */
  readonly listPageSize?: number;
}

const ID_RE = /^[0-9a-f]{64}$/;
const DATA_KEY_RE = /^([0-9a-f]{2})\/([0-9a-f]{64})$/;
const MIB = 1 << 20;
/** S3's smallest part (all but the last) and largest part count. */
const MIN_PART = 5 * MIB;
const MAX_PARTS = 10_000;
/** Cleanup after a failed multipart upload must not wait on the caller's (aborted) signal. */
const CLEANUP_TIMEOUT_MS = 30_000;

/** An S3 storage on one bucket and prefix; call create() for a new repository. */
export function createS3Storage(opts: S3StorageOptions): Storage {
  return new S3Storage(opts);
}

/** `s3:<endpoint>/<bucket>/<prefix>` as restic writes it, never with credentials. */
export function s3Location(opts: Pick<S3StorageOptions, 'endpoint' | 'bucket' | 'prefix'>): string {
  const host = opts.endpoint === undefined ? 's3.amazonaws.com' : opts.endpoint.replace(/\/\/[^/@]*@/, '//').replace(/\/+$/, '');
  const prefix = normalizePrefix(opts.prefix ?? '');
  return `s3:${host}/${opts.bucket}${prefix === '' ? '' : `/${prefix}`}`;
}

export class S3Storage implements Storage {
  readonly properties: StorageProperties;
  readonly bucket: string;
  readonly prefix: string;
  readonly #client: S3Client;
  readonly #region: string;
  readonly #threshold: number;
  readonly #partSize: number;
  readonly #partConcurrency: number;
  readonly #listPageSize: number | undefined;

  constructor(opts: S3StorageOptions) {
    if (opts.bucket === '') throw new LifeboatError('usage', 'an S3 storage needs a bucket name');
    this.bucket = opts.bucket;
    this.prefix = normalizePrefix(opts.prefix ?? '');
    this.#region = opts.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1';
    this.#partSize = Math.max(MIN_PART, opts.partSize ?? 16 * MIB);
    this.#threshold = Math.max(0, opts.multipartThreshold ?? 64 * MIB);
    this.#partConcurrency = Math.max(1, opts.partConcurrency ?? 4);
    this.#listPageSize = opts.listPageSize;
    this.properties = { location: s3Location(opts), connections: opts.connections ?? 5, canDelete: true };
    const config: S3ClientConfig = {
      region: this.#region,
      forcePathStyle: opts.forcePathStyle ?? opts.endpoint !== undefined,
      maxAttempts: 1,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: {
        connectionTimeout: opts.connectionTimeoutMs ?? 10_000,
        socketTimeout: opts.idleTimeoutMs ?? 60_000,
        requestTimeout: opts.requestTimeoutMs ?? 600_000,
        throwOnRequestTimeout: true,
      },
    };
    if (opts.endpoint !== undefined) config.endpoint = opts.endpoint;
    if (opts.credentials !== undefined) config.credentials = { ...opts.credentials };
    this.#client = new S3Client(config);
  }

  async create(opts: CallOptions = {}): Promise<void> {
    const what = `bucket "${this.bucket}"`;
    checkSignal(opts.signal, `create ${this.properties.location}`);
    await this.#ensureBucket(opts.signal, what);
    const config: Handle = { type: 'config', name: '' };
    if (await this.#exists(config, opts.signal, 'create')) {
      throw new LifeboatError('already_exists', `a repository already exists at ${this.properties.location} (config found)`, {
        hint: 'use the existing repository or choose another bucket or prefix',
        data: { bucket: this.bucket, key: this.#key(config) },
      });
    }
  }

  /** Creates the bucket unless it is there; a bucket someone else owns is an error. */
  async #ensureBucket(signal: AbortSignal | undefined, what: string): Promise<void> {
    if (await this.#bucketExists(signal, what)) return;
    try {
      await this.#client.send(
        new CreateBucketCommand({
          Bucket: this.bucket,
          // us-east-1 is the default location and AWS refuses to have it named.
          ...(this.#region === 'us-east-1' ? {} : { CreateBucketConfiguration: { LocationConstraint: this.#region as BucketLocationConstraint } }),
        }),
        { abortSignal: signal },
      );
    } catch (err) {
      const code = s3ErrorCode(err);
      if (code === 'BucketAlreadyOwnedByYou') return;
      // Some servers answer BucketAlreadyExists for one's own bucket: if it answers us now,
      // it was made meanwhile (a concurrent init) and is usable.
      if (code === 'BucketAlreadyExists' && (await this.#bucketExists(signal, what))) return;
      throw this.#fail(err, 'create', what, undefined, signal);
    }
  }

  async #bucketExists(signal: AbortSignal | undefined, what: string): Promise<boolean> {
    try {
      await this.#client.send(new HeadBucketCommand({ Bucket: this.bucket }), { abortSignal: signal });
      return true;
    } catch (err) {
      if (s3HttpStatus(err) === 404 || s3ErrorCode(err) === 'NoSuchBucket' || s3ErrorCode(err) === 'NotFound') return false;
      throw this.#fail(err, 'create', what, undefined, signal);
    }
  }

  async save(h: Handle, data: Uint8Array, opts: CallOptions = {}): Promise<void> {
    checkHandle(h);
    const what = describeHandle(h);
    const key = this.#key(h);
    checkSignal(opts.signal, `save ${what}`);
    if (await this.#exists(h, opts.signal, 'save')) throw this.#alreadyExists(h, key);
    checkSignal(opts.signal, `save ${what}`);
    try {
      if (data.length <= this.#threshold) await this.#putObject(h, key, data, opts.signal);
      else await this.#multipart(h, key, data, opts.signal);
    } catch (err) {
      const mapped = this.#fail(err, 'save', what, key, opts.signal);
      throw mapped.code === 'already_exists' ? this.#alreadyExists(h, key, err) : mapped;
    }
  }

  async #putObject(h: Handle, key: string, data: Uint8Array, signal: AbortSignal | undefined): Promise<void> {
    const input = { Bucket: this.bucket, Key: key, Body: data, ContentLength: data.length, ContentMD5: md5(data) };
    if (h.type !== 'config') {
      await this.#client.send(new PutObjectCommand(input), { abortSignal: signal });
      return;
    }
    try {
      await this.#client.send(new PutObjectCommand({ ...input, IfNoneMatch: '*' }), { abortSignal: signal });
    } catch (err) {
      // Servers without conditional writes refuse the header outright; the HEAD in save()
      // already checked, so write without it.
      const code = s3ErrorCode(err);
      if (code !== 'NotImplemented' && s3HttpStatus(err) !== 501) throw err;
      await this.#client.send(new PutObjectCommand(input), { abortSignal: signal });
    }
  }

  /** Parts in order, a few at a time; completes only when all landed, else aborts. */
  async #multipart(h: Handle, key: string, data: Uint8Array, signal: AbortSignal | undefined): Promise<void> {
    const partSize = Math.max(this.#partSize, Math.ceil(data.length / MAX_PARTS));
    const count = Math.ceil(data.length / partSize);
    const created = await this.#client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: key }), { abortSignal: signal });
    const uploadId = created.UploadId;
    if (uploadId === undefined) throw new LifeboatError('s3_error', `the S3 server gave no upload id for ${describeHandle(h)}`, { retryable: true });
    try {
      const parts: CompletedPart[] = new Array<CompletedPart>(count);
      let next = 0;
      // One failing worker stops the others from starting new parts.
      let failed = false;
      const worker = async (): Promise<void> => {
        while (!failed && next < count) {
          const i = next++;
          checkSignal(signal, `save ${describeHandle(h)}`);
          const body = data.subarray(i * partSize, Math.min(data.length, (i + 1) * partSize));
          try {
            const res = await this.#client.send(
              new UploadPartCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId, PartNumber: i + 1, Body: body, ContentLength: body.length, ContentMD5: md5(body) }),
              { abortSignal: signal },
            );
            parts[i] = { PartNumber: i + 1, ETag: res.ETag };
          } catch (err) {
            failed = true;
            throw err;
          }
        }
      };
      const results = await Promise.allSettled(Array.from({ length: Math.min(count, this.#partConcurrency) }, worker));
      const rejected = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (rejected !== undefined) throw rejected.reason;
      // The commit point: once this request is sent the object may appear, so the caller's
      // signal is checked before and not passed to it (as the local backend's link(2)).
      checkSignal(signal, `save ${describeHandle(h)}`);
      await this.#client.send(new CompleteMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: parts } }));
    } catch (err) {
      await this.#abortUpload(key, uploadId);
      throw err;
    }
  }

  /** Best effort: an upload left behind is invisible and S3 lifecycle rules can expire it. */
  async #abortUpload(key: string, uploadId: string): Promise<void> {
    try {
      await this.#client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId }), {
        abortSignal: AbortSignal.timeout(CLEANUP_TIMEOUT_MS),
      });
    } catch {
      // The original failure is the one worth reporting.
    }
  }

  async load(h: Handle, opts: LoadOptions = {}): Promise<Buffer> {
    checkHandle(h);
    const what = describeHandle(h);
    const key = this.#key(h);
    checkSignal(opts.signal, `load ${what}`);
    const offset = opts.offset ?? 0;
    const length = opts.length ?? 0;
    if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
      throw new LifeboatError('invalid_range', `invalid range for ${what}: offset ${offset}, length ${length}`);
    }
    const ranged = offset > 0 || length > 0;
    const range = ranged ? `bytes=${offset}-${length > 0 ? offset + length - 1 : ''}` : undefined;
    let body: Buffer;
    let contentRange: string | undefined;
    let contentLength: number | undefined;
    try {
      const res = await this.#client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key, Range: range }), { abortSignal: opts.signal });
      contentRange = res.ContentRange;
      contentLength = res.ContentLength;
      if (res.Body === undefined) throw new LifeboatError('s3_error', `the S3 server sent no body for ${what}`, { retryable: true });
      const bytes = await res.Body.transformToByteArray();
      body = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    } catch (err) {
      const mapped = this.#fail(err, 'load', what, key, opts.signal);
      if (mapped.code !== 'short_read') throw mapped;
      // 416: the range starts at or past the end. Reading "to the end" from exactly the
      // end is an empty read, as on the other backends.
      const size = await this.#size(h, opts.signal);
      if (length === 0 && offset === size) return Buffer.alloc(0);
      throw shortRead(what, this.properties.location, offset, length, size);
    }
    checkSignal(opts.signal, `load ${what}`);
    if (contentLength !== undefined && body.length !== contentLength) throw truncated(what, this.properties.location, body.length, contentLength);
    if (!ranged) return body;
    const served = parseContentRange(contentRange);
    if (served === undefined) {
      // The server ignored Range and sent the whole file: cut the range out here.
      const want = length > 0 ? length : body.length - offset;
      if (want < 0 || offset + want > body.length) throw shortRead(what, this.properties.location, offset, length, body.length);
      return Buffer.from(body.subarray(offset, offset + want));
    }
    if (served.start !== offset || body.length !== served.end - served.start + 1) {
      throw new LifeboatError('s3_error', `the S3 server answered a read of ${what} at offset ${offset} with bytes ${served.start}-${served.end}`, {
        data: { file: what, offset, length, contentRange },
        hint: 'the server does not honour byte ranges correctly; report it to its maintainers',
        retryable: false,
      });
    }
    const want = length > 0 ? length : served.total - offset;
    if (body.length < want) throw shortRead(what, this.properties.location, offset, length, served.total);
    // Some servers send more than asked (one answers bytes=0-0 with the whole object).
    return body.length === want ? body : Buffer.from(body.subarray(0, want));
  }

  async stat(h: Handle, opts: CallOptions = {}): Promise<FileInfo> {
    checkHandle(h);
    checkSignal(opts.signal, `stat ${describeHandle(h)}`);
    return { name: h.name, size: await this.#size(h, opts.signal) };
  }

  async remove(h: Handle, opts: CallOptions = {}): Promise<void> {
    checkHandle(h);
    const what = describeHandle(h);
    const key = this.#key(h);
    checkSignal(opts.signal, `remove ${what}`);
    // DELETE of a missing key succeeds on S3; the contract wants NotFoundError.
    await this.#size(h, opts.signal, 'remove');
    checkSignal(opts.signal, `remove ${what}`);
    try {
      await this.#client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }), { abortSignal: opts.signal });
    } catch (err) {
      throw this.#fail(err, 'remove', what, key, opts.signal);
    }
  }

  async *list(type: FileType, opts: CallOptions = {}): AsyncGenerator<FileInfo> {
    checkSignal(opts.signal, `list ${type}`);
    if (type === 'config') {
      try {
        yield await this.stat({ type: 'config', name: '' }, opts);
      } catch (err) {
        if (!(err instanceof LifeboatError && err.code === 'not_found' && !isBucketMissing(err))) throw err;
      }
      return;
    }
    const dir = `${this.prefix === '' ? '' : `${this.prefix}/`}${type}/`;
    let token: string | undefined;
    let listed = 0;
    do {
      checkSignal(opts.signal, `list ${type}`);
      let page;
      try {
        page = await this.#client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: dir, ContinuationToken: token, MaxKeys: this.#listPageSize }), { abortSignal: opts.signal });
      } catch (err) {
        throw this.#fail(err, 'list', `${type}/`, dir, opts.signal);
      }
      for (const obj of page.Contents ?? []) {
        const name = listedName(type, obj.Key?.slice(dir.length));
        if (name !== undefined && obj.Key?.startsWith(dir) === true) {
          listed++;
          yield { name, size: obj.Size ?? 0 };
        }
      }
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    if (type === 'keys' && listed === 0) await this.#refuseLegacyLayout(opts.signal);
  }

  /**
   * restic's legacy S3 layout (before 0.7: key/, snapshot/, index/, lock/ and data/ without
   * the two-hex folders) has no keys/; without this check its repositories look like one
   * whose password is wrong. restic 0.18 no longer opens it either; 0.14 to 0.17 convert it.
   */
  async #refuseLegacyLayout(signal: AbortSignal | undefined): Promise<void> {
    const dir = `${this.prefix === '' ? '' : `${this.prefix}/`}key/`;
    let page;
    try {
      page = await this.#client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: dir, MaxKeys: 1 }), { abortSignal: signal });
    } catch (err) {
      throw this.#fail(err, 'list', 'key/', dir, signal);
    }
    if ((page.Contents ?? []).length === 0) return;
    throw new LifeboatError('legacy_layout', `the repository at ${this.properties.location} uses restic's legacy S3 layout (key/, snapshot/, data/ without subfolders), which lifeboat does not read`, {
      hint: 'convert it with "restic migrate s3_layout" (restic 0.14 to 0.17), then open it again',
      data: { bucket: this.bucket, prefix: this.prefix },
    });
  }

  async close(): Promise<void> {
    // Closes the pooled sockets; calls after this fail.
    this.#client.destroy();
  }

  #key(h: Handle): string {
    return this.prefix === '' ? filePath(h) : `${this.prefix}/${filePath(h)}`;
  }

  async #size(h: Handle, signal: AbortSignal | undefined, op = 'stat'): Promise<number> {
    const key = this.#key(h);
    try {
      const res = await this.#client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }), { abortSignal: signal });
      return res.ContentLength ?? 0;
    } catch (err) {
      throw this.#fail(err, op, describeHandle(h), key, signal);
    }
  }

  async #exists(h: Handle, signal: AbortSignal | undefined, op: string): Promise<boolean> {
    const key = this.#key(h);
    try {
      await this.#client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }), { abortSignal: signal });
      return true;
    } catch (err) {
      // A HEAD has no body, so a missing bucket also looks like a missing key here; the
      // write that follows names the bucket.
      if (isMissingKey(err) && signal?.aborted !== true) return false;
      throw this.#fail(err, op, describeHandle(h), key, signal);
    }
  }

  #alreadyExists(h: Handle, key: string, cause?: unknown): LifeboatError {
    return new LifeboatError('already_exists', `${describeHandle(h)} in ${this.properties.location} already exists; files are written once`, {
      cause,
      data: { file: describeHandle(h), bucket: this.bucket, key },
    });
  }

  #fail(err: unknown, op: string, what: string, key: string | undefined, signal: AbortSignal | undefined): LifeboatError {
    return mapS3Error(err, { op, what, key, bucket: this.bucket, location: this.properties.location, signal });
  }
}

/** The ID in a listed key (relative to `<prefix>/<type>/`), or undefined for anything else. */
function listedName(type: FileType, rel: string | undefined): string | undefined {
  if (rel === undefined) return undefined;
  if (type !== 'data') return ID_RE.test(rel) ? rel : undefined;
  const m = DATA_KEY_RE.exec(rel);
  return m !== null && m[2].startsWith(m[1]) ? m[2] : undefined;
}

function isBucketMissing(err: LifeboatError): boolean {
  return err.data.s3Code === 'NoSuchBucket';
}

function normalizePrefix(prefix: string): string {
  return prefix.split('/').filter((s) => s !== '').join('/');
}

function md5(data: Uint8Array): string {
  return createHash('md5').update(data).digest('base64');
}

/** `Content-Range: bytes a-b/total` as numbers; undefined when absent or unreadable. */
function parseContentRange(value: string | undefined): { start: number; end: number; total: number } | undefined {
  const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(value?.trim() ?? '');
  return m === null ? undefined : { start: Number(m[1]), end: Number(m[2]), total: Number(m[3]) };
}



function shortRead(what: string, location: string, offset: number, length: number, size: number): LifeboatError {
  const range = `offset ${offset}, length ${length > 0 ? length : 'to the end'}`;
  return new LifeboatError('short_read', `${what} in ${location} is ${size} bytes, shorter than the range requested (${range})`, {
    data: { file: what, offset, length, size },
    hint: 'the file may be truncated; run "lifeboat check" on the repository',
  });
}

/** The connection ended before the announced body did: worth another attempt. */
function truncated(what: string, location: string, got: number, announced: number): LifeboatError {
  return new LifeboatError('storage_unavailable', `load of ${what} in ${location} received ${got} of ${announced} bytes`, {
    data: { file: what, got, announced },
    hint: 'the connection to the S3 server broke; lifeboat retries, then run the command again later',
    retryable: true,
  });
}
