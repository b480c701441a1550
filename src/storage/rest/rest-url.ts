/**
 * Parsing of `rest:` repository URLs, as restic writes them:
 *
 *   rest:http://host:8000/            a repository at the server's root
 *   rest:https://user:pass@host/repo/ with HTTP basic auth credentials in the URL
 *
 * The credentials are split off at once: requests carry them in an Authorization header
 * (fetch refuses URLs with credentials), and `location`, the form used in messages, never
 * contains them. Credentials may also come from options or from LIFEBOAT_REST_USER and
 * LIFEBOAT_REST_PASSWORD, so that they need not sit in a config file or a process list;
 * the URL wins, then the options, then the environment.
 */
import { UsageError } from '../../core/errors.ts';

export interface RestCredentials {
  readonly user?: string;
  readonly password?: string;
}

export interface RestEndpoint {
  /** The HTTP(S) URL of the repository, ending in `/`, without credentials. */
  readonly base: string;
  /** `rest:` + base: what messages and StorageProperties.location show. */
  readonly location: string;
  /** The user name, if any (never the password). */
  readonly user: string | undefined;
  /** The `Authorization` header value, if credentials were given. */
  readonly authorization: string | undefined;
}

export const REST_USER_ENV = 'LIFEBOAT_REST_USER';
export const REST_PASSWORD_ENV = 'LIFEBOAT_REST_PASSWORD';

/**
 * Parses `rest:http(s)://[user:pass@]host[:port][/path/]` (the `rest:` prefix may be left
 * out). Throws a UsageError that shows the URL without its credentials.
 */
export function parseRestUrl(url: string, creds: RestCredentials = {}, env: NodeJS.ProcessEnv = {}): RestEndpoint {
  const raw = url.startsWith('rest:') ? url.slice('rest:'.length) : url;
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new UsageError(`invalid REST repository URL ${JSON.stringify(redact(url))}`, {
      hint: 'write it as rest:http://host:port/path/ (credentials as rest:http://user:password@host:port/path/)',
    });
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new UsageError(`REST repository URL ${JSON.stringify(redact(url))} must use http or https`, {
      hint: 'write it as rest:http://host:port/path/ or rest:https://host/path/',
    });
  }
  if (u.search !== '' || u.hash !== '') {
    throw new UsageError(`REST repository URL ${JSON.stringify(redact(url))} must not have a query or fragment`, {
      hint: 'write it as rest:http://host:port/path/',
    });
  }
  // URL keeps user and password percent-encoded; restic decodes them the same way.
  let user = u.username === '' ? undefined : decodeURIComponent(u.username);
  let password = u.password === '' ? undefined : decodeURIComponent(u.password);
  if (user === undefined && password === undefined) {
    user = creds.user ?? env[REST_USER_ENV];
    password = creds.password ?? env[REST_PASSWORD_ENV];
  }
  u.username = '';
  u.password = '';
  // The protocol addresses files as {path}/{type}/{name}: the path must end with a slash.
  if (!u.pathname.endsWith('/')) u.pathname += '/';
  const base = u.toString();
  const authorization =
    user === undefined && password === undefined ? undefined : `Basic ${Buffer.from(`${user ?? ''}:${password ?? ''}`, 'utf8').toString('base64')}`;
  return { base, location: `rest:${base}`, user, authorization };
}

/**
 * The URL with any `user:password@` part removed, for messages about a malformed URL. It cuts
 * up to the last `@`: a password may hold unencoded `@` or `/`, and cutting too much is safe.
 */
export function redact(url: string): string {
  return url.replace(/^((?:rest:)?(?:[a-z][a-z0-9+.-]*:\/\/)?).*@/is, '$1');
}
