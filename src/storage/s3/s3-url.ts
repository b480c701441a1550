/**
 * `s3:` repository locations, in the forms the restic CLI accepts, so one URL names the same
 * repository for both tools:
 *
 *   s3:https://host:port/bucket/prefix      an S3-compatible server (MinIO, Garage, Ceph …)
 *   s3:http://127.0.0.1:9000/bucket         plain HTTP, for local servers
 *   s3:s3.amazonaws.com/bucket/prefix       AWS (the SDK resolves the regional endpoint)
 *   s3:s3.eu-west-1.amazonaws.com/bucket    AWS, with the region taken from the host
 *   s3:minio.example.com/bucket             any other host without a scheme means https
 *
 * The first path segment is the bucket, the rest the prefix inside it. Credentials never
 * travel in the URL (it ends up in logs and messages): they come from the environment or
 * the AWS profile files.
 */
import { UsageError } from '../../core/errors.ts';

export interface S3Url {
  /** `scheme://host[:port]`; undefined for AWS, whose endpoints the SDK resolves itself. */
  readonly endpoint?: string;
  /** Set when an AWS host names its region (`s3.eu-west-1.amazonaws.com`). */
  readonly region?: string;
  readonly bucket: string;
  /** Key prefix without leading or trailing slashes; '' for the bucket's root. */
  readonly prefix: string;
}

const AWS_HOST = /^(?:[a-z0-9-]+\.)*amazonaws\.com(?:\.cn)?$/i;
/** `s3.<region>.amazonaws.com`, `s3-<region>.amazonaws.com`, `s3.dualstack.<region>…`. */
const AWS_REGION_HOST = /^s3(?:[.-]dualstack)?[.-]([a-z]{2}(?:-gov)?-[a-z]+-\d)\.amazonaws\.com(?:\.cn)?$/i;

const usage = (url: string, why: string): UsageError =>
  new UsageError(`invalid S3 repository location ${JSON.stringify(redact(url))}: ${why}`, {
    hint: 'write s3:https://host:port/bucket/prefix, or s3:s3.amazonaws.com/bucket/prefix for AWS',
  });

/** Parses an `s3:` location (restic's syntax). Throws UsageError on anything else. */
export function parseS3Url(url: string): S3Url {
  let rest: string;
  let scheme = 'https';
  if (/^s3:https?:\/\//i.test(url)) {
    const m = /^s3:(https?):\/\/(.*)$/is.exec(url);
    scheme = (m?.[1] ?? 'https').toLowerCase();
    rest = m?.[2] ?? '';
  } else if (url.startsWith('s3://')) {
    rest = url.slice('s3://'.length);
  } else if (url.startsWith('s3:')) {
    rest = url.slice('s3:'.length);
  } else {
    throw usage(url, 'it does not start with "s3:"');
  }
  const slash = rest.indexOf('/');
  const host = slash < 0 ? rest : rest.slice(0, slash);
  const path = slash < 0 ? '' : rest.slice(slash + 1);
  if (host === '') throw usage(url, 'no host');
  if (host.includes('@')) {
    throw usage(url, 'credentials do not belong in the URL; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY instead');
  }
  if (/[?#]/.test(rest)) throw usage(url, 'query strings and fragments are not supported');
  if (!/^(?:\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::\d{1,5})?$/i.test(host)) throw usage(url, `"${host}" is not a host name`);
  let segments: string[];
  try {
    segments = path.split('/').filter((s) => s !== '').map((s) => decodeURIComponent(s));
  } catch {
    throw usage(url, 'bad percent-encoding in the path');
  }
  const [bucket, ...prefix] = segments;
  if (bucket === undefined) throw usage(url, 'no bucket name after the host');
  if (segments.some((s) => s === '.' || s === '..')) throw usage(url, '"." and ".." are not allowed in the path');
  const hostname = host.replace(/:\d+$/, '');
  if (AWS_HOST.test(hostname)) {
    const region = AWS_REGION_HOST.exec(hostname)?.[1]?.toLowerCase();
    return region === undefined ? { bucket, prefix: prefix.join('/') } : { region, bucket, prefix: prefix.join('/') };
  }
  return { endpoint: `${scheme}://${host.toLowerCase()}`, bucket, prefix: prefix.join('/') };
}

/** The URL with anything that looks like user info removed, for messages. */
function redact(url: string): string {
  return url.replace(/\/\/[^/@]*@/, '//***@').replace(/^s3:[^/@]*@/, 's3:***@');
}
