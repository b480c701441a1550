/**
 * The subset of S3 the bucket source needs, over @aws-sdk/client-s3 (kept inside this folder).
 * Provider errors are translated here into SourceErrors naming the bucket and key; the
 * credentials never reach a message.
 */
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CreateMultipartUploadCommand, UploadPartCommand, CreateBucketCommand, DeleteBucketCommand, DeleteObjectCommand, GetObjectCommand, GetObjectTaggingCommand, HeadBucketCommand,
  ListObjectVersionsCommand, ListObjectsV2Command, PutBucketVersioningCommand, PutObjectCommand, PutObjectTaggingCommand, S3Client, type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { SourceError } from '../../core/errors.ts';

/** Objects above this are restored in parts of this size (S3 takes 5 MiB to 5 GiB a part). */
export const MULTIPART_PART_BYTES = 16 * 1024 * 1024;

export interface S3Endpoint {
  readonly endpoint?: string;
  readonly region?: string;
  readonly forcePathStyle?: boolean;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
  /**
   * Every connection goes to this unix socket instead of the endpoint's host (the local end of
   * a tunnel to where the store runs, net-tunnel.ts); TLS and the Host header stay the endpoint's.
   */
  readonly socketPath?: string;
}

/** Agents whose connections all open `socketPath`; each one runs its own tunnel command over there. */
function tunnelAgents(socketPath: string): { httpAgent: http.Agent; httpsAgent: https.Agent } {
  class HttpTunnel extends http.Agent {
    override createConnection(options: object, cb?: (err: Error | null, socket: Socket) => void): Socket {
      return (http.Agent.prototype as unknown as { createConnection: (o: object, c?: unknown) => Socket }).createConnection.call(this, { ...options, path: socketPath }, cb);
    }
  }
  class HttpsTunnel extends https.Agent {
    override createConnection(options: object, cb?: (err: Error | null, socket: Socket) => void): Socket {
      return (https.Agent.prototype as unknown as { createConnection: (o: object, c?: unknown) => Socket }).createConnection.call(this, { ...options, path: socketPath }, cb);
    }
  }
  return { httpAgent: new HttpTunnel({ keepAlive: true }), httpsAgent: new HttpsTunnel({ keepAlive: true }) };
}

export interface ListedObject {
  readonly key: string;
  readonly size: number;
  readonly etag: string;
  readonly lastModified: string;
  /** Set when listed by listVersions ("null" for an object written before versioning was on). */
  readonly versionId?: string;
  readonly isLatest?: boolean;
  /** A delete marker: no bytes, it hides the versions before it. */
  readonly isDeleteMarker?: boolean;
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
      requestHandler: {
        connectionTimeout: e.connectTimeoutMs, socketTimeout: e.idleTimeoutMs,
        ...(e.socketPath === undefined ? {} : tunnelAgents(e.socketPath)),
      },
    };
    if (e.endpoint !== undefined) config.endpoint = e.endpoint;
    this.#s3 = new S3Client(config);
  }

  close(): void {
    this.#s3.destroy();
  }

  #fail(op: string, where: string, err: unknown, hintIfUnsupported?: string): never {
    const e = err as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
    const status = e.$metadata?.httpStatusCode;
    throw new SourceError(`${this.#what}: ${op} ${where} failed: ${e.name ?? 'error'}${status ? ` (HTTP ${status})` : ''}${e.message && e.message !== e.name ? `: ${e.message}` : ''}`, {
      cause: err,
      retryable: status === undefined || status >= 500,
      hint: status === 403 ? 'check access_key_id/secret_access_key and the bucket policy'
        : status === 404 ? 'check bucket and endpoint'
        : (status === 405 || status === 501) ? hintIfUnsupported : undefined,
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

  /**
   * Every version and delete marker under `prefix`: keys in order, each key's versions newest
   * first (the order S3 lists them in, the only reliable one: LastModified has a resolution of
   * a second on some servers).
   */
  async *listVersions(bucket: string, prefix: string, signal: AbortSignal): AsyncGenerator<ListedObject> {
    let keyMarker: string | undefined;
    let versionMarker: string | undefined;
    do {
      const page = await this.#s3.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: prefix || undefined, KeyMarker: keyMarker, VersionIdMarker: versionMarker }), { abortSignal: signal })
        .catch((err: unknown) => this.#fail('listing the versions of', `bucket ${bucket}`, err, 'this server keeps no object versions: set versions: latest (or leave it out)'));
      const all: Array<ListedObject & { order: number }> = [];
      for (const v of page.Versions ?? []) {
        if (v.Key === undefined) continue;
        all.push({ key: v.Key, size: v.Size ?? 0, etag: v.ETag ?? '', lastModified: v.LastModified?.toISOString() ?? '', versionId: v.VersionId ?? 'null', isLatest: v.IsLatest ?? false, order: all.length });
      }
      for (const m of page.DeleteMarkers ?? []) {
        if (m.Key === undefined) continue;
        all.push({ key: m.Key, size: 0, etag: '', lastModified: m.LastModified?.toISOString() ?? '', versionId: m.VersionId ?? 'null', isLatest: m.IsLatest ?? false, isDeleteMarker: true, order: all.length });
      }
      // The XML interleaves them in order; the SDK splits them into two lists. Within one
      // second (some servers' resolution) the latest goes first; other ties keep list order.
      all.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0) || b.lastModified.localeCompare(a.lastModified) || Number(b.isLatest) - Number(a.isLatest) || a.order - b.order);
      for (const { order: _o, ...o } of all) yield o;
      keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
      versionMarker = page.IsTruncated ? page.NextVersionIdMarker : undefined;
    } while (keyMarker !== undefined);
  }

  async open(bucket: string, key: string, signal: AbortSignal, versionId?: string): Promise<OpenedObject> {
    const where = `s3://${bucket}/${key}${versionId === undefined ? '' : ` (version ${versionId})`}`;
    const r = await this.#s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId }), { abortSignal: signal }).catch((err: unknown) => this.#fail('reading', where, err));
    const tags = await this.#s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: key, VersionId: versionId }), { abortSignal: signal }).catch((err: unknown) => this.#fail('reading the tags of', where, err));
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
  async tags(bucket: string, key: string, signal: AbortSignal, versionId?: string): Promise<Record<string, string>> {
    const r = await this.#s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: key, VersionId: versionId }), { abortSignal: signal })
      .catch((err: unknown) => this.#fail('reading the tags of', `s3://${bucket}/${key}`, err));
    return sorted(Object.fromEntries((r.TagSet ?? []).map((t) => [t.Key ?? '', t.Value ?? ''])));
  }

  async put(bucket: string, key: string, body: AsyncIterable<Uint8Array>, size: number, a: ObjectAttributes, signal: AbortSignal): Promise<void> {
    const headers = {
      Bucket: bucket,
      Key: key,
      ContentType: a.content_type,
      ContentEncoding: a.content_encoding,
      ContentDisposition: a.content_disposition,
      ContentLanguage: a.content_language,
      CacheControl: a.cache_control,
      Expires: a.expires === undefined ? undefined : new Date(a.expires),
      Metadata: a.metadata,
    };
    if (size > MULTIPART_PART_BYTES) await this.#putMultipart(headers, body, size, signal);
    else {
      await this.#s3.send(new PutObjectCommand({ ...headers, Body: Readable.from(body), ContentLength: size }), { abortSignal: signal })
        .catch((err: unknown) => this.#fail('uploading', `s3://${bucket}/${key}`, err));
    }
    // Tags by PutObjectTagging, not the x-amz-tagging header of the PUT: some servers ignore that header.
    if (Object.keys(a.tags).length > 0) {
      await this.#s3.send(new PutObjectTaggingCommand({ Bucket: bucket, Key: key, Tagging: { TagSet: Object.entries(a.tags).map(([Key, Value]) => ({ Key, Value })) } }), { abortSignal: signal })
        .catch((err: unknown) => this.#fail('tagging', `s3://${bucket}/${key}`, err));
    }
  }

  /**
   * An object larger than one part goes up in parts (a single PUT stops at 5 GiB), one part in
   * memory at a time; parts grow past MULTIPART_PART_BYTES when 10,000 would not hold the
   * object. A failed upload is aborted so its parts do not linger (and cost) on the server.
   */
  async #putMultipart(headers: { Bucket: string; Key: string } & Record<string, unknown>, body: AsyncIterable<Uint8Array>, size: number, signal: AbortSignal): Promise<void> {
    const where = `s3://${headers.Bucket}/${headers.Key}`;
    const partBytes = Math.max(MULTIPART_PART_BYTES, Math.ceil(size / 10_000));
    const { UploadId } = await this.#s3.send(new CreateMultipartUploadCommand(headers), { abortSignal: signal }).catch((err: unknown) => this.#fail('starting the upload of', where, err));
    const target = { Bucket: headers.Bucket, Key: headers.Key, UploadId };
    const parts: Array<{ PartNumber: number; ETag?: string }> = [];
    let sent = 0;
    const send = async (chunk: Buffer): Promise<void> => {
      const PartNumber = parts.length + 1;
      sent += chunk.length;
      const r = await this.#s3.send(new UploadPartCommand({ ...target, PartNumber, Body: chunk, ContentLength: chunk.length }), { abortSignal: signal })
        .catch((err: unknown) => this.#fail(`uploading part ${PartNumber} of`, where, err));
      parts.push({ PartNumber, ETag: r.ETag });
    };
    try {
      let pending: Buffer[] = [];
      let pendingBytes = 0;
      for await (const c of body) {
        pending.push(Buffer.from(c.buffer, c.byteOffset, c.byteLength));
        pendingBytes += c.length;
        while (pendingBytes >= partBytes) {
          const all = Buffer.concat(pending);
          await send(all.subarray(0, partBytes));
          pending = [all.subarray(partBytes)];
          pendingBytes = all.length - partBytes;
        }
      }
      if (pendingBytes > 0 || parts.length === 0) await send(Buffer.concat(pending));
      if (sent !== size) throw new SourceError(`${this.#what}: ${where}: the stored object has ${sent} bytes, the index says ${size}; the upload was aborted`, { hint: 'run `lifeboat verify` on the snapshot' });
      await this.#s3.send(new CompleteMultipartUploadCommand({ ...target, MultipartUpload: { Parts: parts } }), { abortSignal: signal })
        .catch((err: unknown) => this.#fail('completing the upload of', where, err));
    } catch (err) {
      await this.#s3.send(new AbortMultipartUploadCommand(target)).catch(() => undefined);
      throw err;
    }
  }

  /** Without `versionId` in a versioned bucket this writes a delete marker; with it, removes that version for good. */
  async delete(bucket: string, key: string, signal: AbortSignal, versionId?: string): Promise<void> {
    await this.#s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId }), { abortSignal: signal })
      .catch((err: unknown) => this.#fail('deleting', `s3://${bucket}/${key}${versionId === undefined ? '' : ` (version ${versionId})`}`, err));
  }

  async enableVersioning(bucket: string, signal: AbortSignal): Promise<void> {
    await this.#s3.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }), { abortSignal: signal })
      .catch((err: unknown) => this.#fail('enabling versioning on', `bucket ${bucket}`, err));
  }

  async ensureBucket(bucket: string, signal: AbortSignal): Promise<void> {
    const exists = await this.#s3.send(new HeadBucketCommand({ Bucket: bucket }), { abortSignal: signal }).then(() => true, () => false);
    if (!exists) await this.#s3.send(new CreateBucketCommand({ Bucket: bucket }), { abortSignal: signal }).catch((err: unknown) => this.#fail('creating', `bucket ${bucket}`, err));
  }

  async deleteBucket(bucket: string, signal: AbortSignal): Promise<void> {
    // Every version and delete marker, so that a versioned scratch bucket is empty too.
    const all: ListedObject[] = [];
    try {
      for await (const o of this.listVersions(bucket, '', signal)) all.push(o);
    } catch (err) {
      // A server without ListObjectVersions (s3rver) has no versions either: plain keys then.
      if (!(err instanceof SourceError && (err.data.status === 501 || err.data.status === 405))) throw err;
      for await (const o of this.list(bucket, '', signal)) all.push(o);
    }
    for (const o of all) await this.delete(bucket, o.key, signal, o.versionId);
    await this.#s3.send(new DeleteBucketCommand({ Bucket: bucket }), { abortSignal: signal }).catch((err: unknown) => this.#fail('deleting', `bucket ${bucket}`, err));
  }
}
