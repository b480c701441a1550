/**
 * A throwaway S3 server for tests: @20minutes/s3rver (a maintained fork of s3rver) over a
 * temp dir, on a random loopback port, in a child process of its own so the cleanup
 * registry can SIGKILL it (and the test process keeps its CPU for the client side).
 *
 *   const s3 = await startS3Server();
 *   t.after(() => s3.stop());
 *   createS3Storage({ endpoint: s3.endpoint, bucket: 'b-1', credentials: s3.credentials() })
 *
 * Why this server: the original s3rver 3.7 stores the SDK's streaming-signature framing
 * inside objects and fails with restic; the fork decodes it, and restic 0.14 works with it.
 * The fork has no CLI, so this file is also the server's entry point (run as a script, see
 * the bottom). Version 4.0.4 runs on Node 20 and later; 5.x needs Node 24.
 *
 * Known gaps of the fork (measured with @aws-sdk/client-s3 3.x and restic 0.14), where a
 * real S3 behaves otherwise; tests must not rely on these:
 * - Signatures: with signature checks on, it rejects the AWS SDK v3's own requests
 *   (SignatureDoesNotMatch even for CreateBucket), so it runs with
 *   `allowMismatchedSignatures: true`: a wrong secret key is accepted. Only an unknown
 *   access key id is refused (403 InvalidAccessKeyId), and unsigned requests are let in.
 * - Writes are not atomic: a PUT streams straight into the object's file, so a reader can
 *   see a prefix of an object being written, and a PUT whose connection breaks mid-body
 *   leaves a truncated object visible. Content-Length and Content-MD5 are not verified.
 * - Conditional writes: `If-None-Match: *` on PutObject is ignored (the object is
 *   overwritten with 200).
 * - Multipart: AbortMultipartUpload answers 405 MethodNotAllowed (the parts stay in the
 *   server's uploads area, invisible to listings); ListMultipartUploads answers 501.
 * - Buckets: CreateBucket of an existing bucket answers 409 BucketAlreadyExists even for
 *   its owner (AWS says BucketAlreadyOwnedByYou); names must be 3 to 63 characters.
 * - Listing: continuation tokens are DES-encrypted, which OpenSSL 3 (Node 17+) refuses unless
 *   the legacy provider is loaded, so the server runs with --openssl-legacy-provider;
 *   without it every ListObjectsV2 page after the first fails with 500 InternalError.
 * - Ranges: `Range: bytes=0-0` returns the whole object (an end of 0 is read as "no end"),
 *   labelled `Content-Range: bytes 0-(size-1)/size`; the client must check what it got.
 * - A HEAD in a missing bucket answers a bodiless 404, as AWS does: no NoSuchBucket code.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ManagedProcess } from './managed-process.ts';
import { LOOPBACK, pollUntil } from './ports.ts';
import { ServerRoot } from './server-root.ts';

/** The fork's fixed account: s3rver knows no other key pair. */
const ACCESS_KEY_ID = 'S3RVER';
const SECRET_ACCESS_KEY = 'S3RVER';
const READY = 'S3_SERVER_READY ';

export interface S3Server {
  /** http://127.0.0.1:PORT */
  readonly endpoint: string;
  readonly port: number;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** The bucket made at start-up, when one was asked for. */
  readonly bucket?: string;
  /** Where the server keeps buckets (one directory each). */
  readonly dataDir: string;
  /** Server pid (also its process-group id). */
  readonly pid: number;
  credentials(): { accessKeyId: string; secretAccessKey: string };
  /** restic's URL for a repository at bucket/prefix: s3:http://127.0.0.1:PORT/bucket/prefix */
  resticUrl(bucket: string, prefix?: string): string;
  /** Environment restic needs to reach this server (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY). */
  resticEnv(): NodeJS.ProcessEnv;
  /** Removes a bucket and everything in it, behind the server's back (test cleanup). */
  dropBucket(bucket: string): Promise<void>;
  stop(): Promise<void>;
  kill(): Promise<void>;
}

export interface S3ServerOptions {
  /** Make this bucket before the server answers. */
  bucket?: string;
}

/** A bucket name valid everywhere (3-63 lowercase characters), unique per call. */
export function randomBucketName(tag = 'lb'): string {
  return `${tag}-${randomBytes(6).toString('hex')}`;
}

export async function startS3Server(opts: S3ServerOptions = {}): Promise<S3Server> {
  const root = await ServerRoot.create('s3');
  let proc: ManagedProcess | undefined;
  try {
    const dataDir = root.path('data');
    await mkdir(dataDir);
    const logFile = root.path('s3rver.log');
    // The fork makes ListObjectsV2 continuation tokens with DES, which OpenSSL 3 keeps in its
    // legacy provider: without it every truncated listing is a 500 InternalError.
    const args = ['--openssl-legacy-provider', fileURLToPath(import.meta.url), '--serve', dataDir, ...(opts.bucket === undefined ? [] : ['--bucket', opts.bucket])];
    // The server binds port 0 and prints the port it got: no race for a free port.
    const p = new ManagedProcess(process.execPath, args, { logFile, cwd: root.dir });
    proc = p;
    root.adopt(p);
    let port = 0;
    await pollUntil(
      async () => {
        const log = await readFile(logFile, 'utf8').catch(() => '');
        const line = log.split('\n').find((l) => l.startsWith(READY));
        if (line !== undefined) port = Number(line.slice(READY.length));
        return port > 0;
      },
      { what: 's3rver start-up', abort: () => (p.exitInfo === undefined ? undefined : `${p.describeExit()}\n${p.logTail()}`) },
    );
    const endpoint = `http://${LOOPBACK}:${port}`;
    return {
      endpoint,
      port,
      accessKeyId: ACCESS_KEY_ID,
      secretAccessKey: SECRET_ACCESS_KEY,
      bucket: opts.bucket,
      dataDir,
      pid: p.pid,
      credentials: () => ({ accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET_ACCESS_KEY }),
      resticUrl: (bucket, prefix = '') => `s3:${endpoint}/${bucket}${prefix === '' ? '' : `/${prefix}`}`,
      resticEnv: () => ({ AWS_ACCESS_KEY_ID: ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: SECRET_ACCESS_KEY }),
      async dropBucket(bucket) {
        if (!/^[a-z0-9][a-z0-9.-]{2,62}$/.test(bucket)) throw new Error(`not a bucket name: ${bucket}`);
        await rm(join(dataDir, bucket), { recursive: true, force: true, maxRetries: 3 });
      },
      stop: () => root.stop(p, 'SIGTERM', 5_000),
      async kill() {
        await p.kill();
      },
    };
  } catch (err) {
    await root.stop(proc, 'SIGKILL', 0);
    throw err;
  }
}

/** The parts of the fork's API used here (it ships no types). */
interface S3rverInstance {
  run(): Promise<{ port: number }>;
  close(): Promise<void>;
}
type S3rverClass = new (options: Record<string, unknown>) => S3rverInstance;

/** Server side: `node s3-server.ts --serve <dir> [--bucket <name>]`. */
async function serve(argv: string[]): Promise<void> {
  const dir = argv[argv.indexOf('--serve') + 1];
  const bucketAt = argv.indexOf('--bucket');
  const bucket = bucketAt >= 0 ? argv[bucketAt + 1] : undefined;
  const S3rver = createRequire(import.meta.url)('@20minutes/s3rver') as S3rverClass;
  const server = new S3rver({
    address: LOOPBACK,
    port: 0,
    directory: dir,
    silent: process.env.S3_SERVER_VERBOSE !== '1',
    // See the gaps above: the SDK's signatures do not verify on this server.
    allowMismatchedSignatures: true,
    // Path-style only: no bucket.host parsing of "127.0.0.1".
    vhostBuckets: false,
    configureBuckets: bucket === undefined ? [] : [{ name: bucket }],
  });
  const address = await server.run();
  process.stdout.write(`${READY}${address.port}\n`);
  const shutdown = (): void => {
    void server.close().finally(() => process.exit(0));
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}

if (import.meta.main && process.argv.includes('--serve')) {
  await serve(process.argv);
}
