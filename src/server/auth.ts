/**
 * Who may call the API. On a loopback address reads are open (as node_exporter's are) and, with
 * no token configured, so are actions from the same origin; on any other address the daemon
 * refuses to start without a token, and every request must carry it (`Authorization: Bearer`).
 *
 * CSRF: no cookies are ever set, so a browser holds no ambient credential. A state-changing
 * request must carry the token, or, token-less on loopback, come with a Host naming this
 * daemon (defeats DNS rebinding), no foreign Origin, and `Content-Type: application/json`
 * (which a cross-site form or a no-cors fetch cannot send).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { HttpError } from './error-handler.ts';

export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

export interface AuthPolicy {
  readonly token?: string;
  /** The address bound: loopback or not. */
  readonly loopback: boolean;
  /** host:port values this daemon answers to (for the Host check). */
  readonly hosts: ReadonlySet<string>;
}

function bearerOk(req: IncomingMessage, token: string): boolean {
  const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  // Equal-length digests: no timing hint about the token's length or prefix.
  return m !== null && timingSafeEqual(digest(m[1] as string), digest(token));
}

/** Throws an HttpError (401/403) unless the request may proceed. */
export function authorize(req: IncomingMessage, policy: AuthPolicy, mutating: boolean): void {
  const host = (req.headers.host ?? '').toLowerCase();
  if (policy.loopback && !policy.hosts.has(host)) {
    throw new HttpError(403, 'forbidden_host', `requests for host "${host}" are refused`, 'call the daemon by the address it listens on (e.g. 127.0.0.1:9876)');
  }
  if (policy.token !== undefined) {
    if (bearerOk(req, policy.token)) return;
    if (!mutating && policy.loopback) return;
    throw new HttpError(401, 'unauthorized', 'this request needs the daemon\'s token', 'send "Authorization: Bearer <token>" (daemon.token in lifeboat.yml)');
  }
  if (!mutating) return;
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== 'null') {
    let originHost: string;
    try {
      originHost = new URL(origin).host.toLowerCase();
    } catch {
      originHost = '';
    }
    if (!policy.hosts.has(originHost)) throw new HttpError(403, 'cross_origin', `a request from ${origin} may not change anything here`, 'set daemon.token and send it as a bearer token');
  } else if (origin === 'null') {
    throw new HttpError(403, 'cross_origin', 'a request from an opaque origin may not change anything here');
  }
  if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) {
    throw new HttpError(415, 'json_required', 'actions take Content-Type: application/json', 'send the request body as JSON (an empty {} will do)');
  }
}
