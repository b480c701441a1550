/**
 * The subset of S3 the bucket source needs, over @aws-sdk/client-s3 (kept inside this folder).
 * Provider errors are translated here into SourceErrors naming the bucket and key; the
 * credentials never reach a message.
 */
import { Readable } from 'node:stream';
import {
  CreateBucketCommand, DeleteBucketCommand, DeleteObjectCommand, GetObjectCommand, GetObjectTaggingCommand, HeadBucketCommand,
  ListObjectsV2Command, PutObjectCommand, PutObjectTaggingCommand, S3Client, type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { SourceError } from '../../core/errors.ts';

export interface S3Endpoint {
  readonly endpoint?: string;
  readonly region?: string;
  readonly forcePathStyle?: boolean;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
}

export interface ListedObject {
  readonly key: string;
  readonly size: number;
  readonly etag: string;
  readonly lastModified: string;
}

/** What is kept of an object besides its bytes; restored as it was (LastModified and ETag cannot be). */
export interface ObjectAttributes {
  readonly content_type?: string;
  readonly content_encoding?: string;
  readonly content_disposition?: string;
  readonly content_language?: string;
  readonly cache_control?: string;
  readonly expires?: string;
  readonly metadata: Record<string, string>;
  readonly tags: Record<string, string>;
}

export interface OpenedObject {
  readonly body: AsyncIterable<Uint8Array>;
  readonly size: number;
  readonly etag: string;
  readonly lastModified: string;
  readonly attributes: ObjectAttributes;
}

function sorted(r: Record<string, string> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(r ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

export class S3BucketClient {
  readonly #s3: S3Client;
  readonly #what: string;

  constructor(what: string, e: S3Endpoint) {
    this.#what = what;
    const config: S3ClientConfig = {
      region: e.region ?? 'us-east-1',
      forcePathStyle: e.forcePathStyle ?? e.endpoint !== undefined,
      credentials: { accessKeyId: e.accessKeyId, secretAccessKey: e.secretAccessKey },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: { connectionTimeout: e.connectTimeoutMs, socketTimeout: e.idleTimeoutMs },
    };
    if (e.endpoint !== undefined) config.endpoint = e.endpoint;
    this.#s3 = new S3Client(config);
  }

  close(): void {
    this.#s3.destroy();
  }

  #fail(op: string, where: string, err: unknown): never {
    const e = err as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
    const status = e.$metadata?.httpStatusCode;
    throw new SourceError(`${this.#what}: ${op} ${where} failed: ${e.name ?? 'error'}${status ? ` (HTTP ${status})` : ''}${e.message && e.message !== e.name ? `: ${e.message}` : ''}`, {
      cause: err,
      retryable: status === undefined || status >= 500,
      hint: status === 403 ? 'check access_key_id/secret_access_key and the bucket policy' : status === 404 ? 'check bucket and endpoint' : undefined,
      data: { status },
    });
  }

  /** Every object under `prefix`, in key order, page by page. */
  async *list(bucket: string, prefix: string, signal: AbortSignal): AsyncGenerator<ListedObject> {
    let token: string | undefined;
    do {
      const page = await this.#s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix || undefined, ContinuationToken: token }), { abortSignal: signal })
        .catch((err: unknown) => this.#fail('listing', `bucket ${bucket}`, err));
      for (const o of page.Contents ?? []) {
        if (o.Key === undefined) continue;
        yield { key: o.Key, size: o.Size ?? 0, etag: o.ETag ?? '', lastModified: o.LastModified?.toISOString() ?? '' };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
  }

  async open(bucket: string, key: string, signal: AbortSignal): Promise<OpenedObject> {
    const where = `s3://${bucket}/${key}`;
    const r = await this.#s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: signal }).catch((err: unknown) => this.#fail('reading', where, err));
    const tags = await this.#s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: key }), { abortSignal: signal }).catch((err: unknown) => this.#fail('reading the tags of', where, err));
    const attributes: ObjectAttributes = {
      ...(r.ContentType ? { content_type: r.ContentType } : {}),
      ...(r.ContentEncoding ? { content_encoding: r.ContentEncoding } : {}),
      ...(r.ContentDisposition ? { content_disposition: r.ContentDisposition } : {}),
      ...(r.ContentLanguage ? { content_language: r.ContentLanguage } : {}),
      ...(r.CacheControl ? { cache_control: r.CacheControl } : {}),
      ...(r.Expires ? { expires: r.Expires.toISOString() } : {}),
      metadata: sorted(r.Metadata),
      tags: sorted(Object.fromEntries((tags.TagSet ?? []).map((t) => [t.Key ?? '', t.Value ?? '']))),
    };
    return { body: r.Body as Readable, size: r.ContentLength ?? 0, etag: r.ETag ?? '', lastModified: r.LastModified?.toISOString() ?? '', attributes };
  }

  /** An object's tags alone (no body): what an unchanged object still costs an incremental backup. */
  async tags(bucket: string, key: string, signal: AbortSignal): Promise<Record<string, string>> {
    const r = await this.#s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: key }), { abortSignal: signal })
      .catch((err: unknown) => this.#fail('reading the tags of', `s3://${bucket}/${key}`, err));
    return sorted(Object.fromEntries((r.TagSet ?? []).map((t) => [t.Key ?? '', t.Value ?? ''])));
  }

  async put(bucket: string, key: string, body: AsyncIterable<Uint8Array>, size: number, a: ObjectAttributes, signal: AbortSignal): Promise<void> {
    await this.#s3.send(new PutObjectCommand({
      Bucket: bucket,
      Key: key,
      Body: Readable.from(body),
      ContentLength: size,
      ContentType: a.content_type,
      ContentEncoding: a.content_encoding,
      ContentDisposition: a.content_disposition,
      ContentLanguage: a.content_language,
      CacheControl: a.cache_control,
      Expires: a.expires === undefined ? undefined : new Date(a.expires),
      Metadata: a.metadata,
    }), { abortSignal: signal }).catch((err: unknown) => this.#fail('uploading', `s3://${bucket}/${key}`, err));
    // Tags by PutObjectTagging, not the x-amz-tagging header of the PUT: some servers ignore that header.
    if (Object.keys(a.tags).length > 0) {
      await this.#s3.send(new PutObjectTaggingCommand({ Bucket: bucket, Key: key, Tagging: { TagSet: Object.entries(a.tags).map(([Key, Value]) => ({ Key, Value })) } }), { abortSignal: signal })
        .catch((err: unknown) => this.#fail('tagging', `s3://${bucket}/${key}`, err));
    }
  }

  async delete(bucket: string, key: string, signal: AbortSignal): Promise<void> {
    await this.#s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: signal }).catch((err: unknown) => this.#fail('deleting', `s3://${bucket}/${key}`, err));
  }

  async ensureBucket(bucket: string, signal: AbortSignal): Promise<void> {
    const exists = await this.#s3.send(new HeadBucketCommand({ Bucket: bucket }), { abortSignal: signal }).then(() => true, () => false);
    if (!exists) await this.#s3.send(new CreateBucketCommand({ Bucket: bucket }), { abortSignal: signal }).catch((err: unknown) => this.#fail('creating', `bucket ${bucket}`, err));
  }

  async deleteBucket(bucket: string, signal: AbortSignal): Promise<void> {
    for await (const o of this.list(bucket, '', signal)) await this.delete(bucket, o.key, signal);
    await this.#s3.send(new DeleteBucketCommand({ Bucket: bucket }), { abortSignal: signal }).catch((err: unknown) => this.#fail('deleting', `bucket ${bucket}`, err));
  }
}
