/**
 * The subset of Gitea's REST API (/api/v1) the gitea source needs: whether it answers, and the
 * counts and refs of its fingerprint. The token goes in the Authorization header only; it never
 * reaches a message. Every request has a deadline (timeouts.connect).
 */
import { createHash } from 'node:crypto';
import { SourceError } from '../../core/errors.ts';

export interface GiteaClientOptions {
  /** For messages: 'gitea source code (127.0.0.1:3000)'. */
  readonly what: string;
  readonly url: string;
  readonly token?: string;
  readonly timeoutMs: number;
  readonly signal: AbortSignal;
}

/** The refs of one repository: how many, and a SHA-256 over the sorted "ref sha" lines. */
export interface RefsDigest {
  readonly refs: number;
  readonly sha256: string;
}

export interface GiteaFingerprint {
  readonly users: number;
  readonly orgs: number;
  readonly repositories: number;
  /** "owner/name" → the digest of its refs (branches, tags, pull request heads). */
  readonly refs: Readonly<Record<string, RefsDigest>>;
}

const PAGE = 50; // Gitea's default MAX_RESPONSE_ITEMS

export class GiteaClient {
  readonly #o: GiteaClientOptions;

  constructor(o: GiteaClientOptions) {
    this.#o = o;
  }

  async #get(path: string): Promise<Response> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (this.#o.token !== undefined) headers.Authorization = `token ${this.#o.token}`;
    try {
      return await fetch(new URL(`api/v1${path}`, this.#o.url.endsWith('/') ? this.#o.url : `${this.#o.url}/`), {
        headers, signal: AbortSignal.any([this.#o.signal, AbortSignal.timeout(this.#o.timeoutMs)]),
      });
    } catch (err) {
      if (this.#o.signal.aborted) throw err;
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      throw new SourceError(`${this.#o.what}: GET /api/v1${path} failed: ${cause}`, { cause: err, retryable: true, hint: 'check that Gitea is up and url points at it' });
    }
  }

  async #json<T>(path: string, notFound?: T): Promise<{ body: T; total: number | undefined }> {
    const res = await this.#get(path);
    if (notFound !== undefined && (res.status === 404 || res.status === 409)) {
      await res.arrayBuffer();
      return { body: notFound, total: undefined };
    }
    if (!res.ok) {
      const text = (await res.text().catch(() => '')).trim().slice(0, 200);
      const hint = res.status === 401 || res.status === 403
        ? 'the token must be an admin\'s with read:admin, read:repository, read:organization and read:user'
        : undefined;
      throw new SourceError(`${this.#o.what}: GET /api/v1${path} answered HTTP ${res.status}${text ? `: ${text}` : ''}`, { hint, retryable: res.status >= 500, data: { status: res.status } });
    }
    const total = res.headers.get('x-total-count');
    return { body: (await res.json()) as T, total: total === null ? undefined : Number(total) };
  }

  /** Whether Gitea answers /api/v1/version (no token needed). */
  async isUp(): Promise<boolean> {
    try {
      const res = await fetch(new URL('api/v1/version', this.#o.url.endsWith('/') ? this.#o.url : `${this.#o.url}/`), { signal: AbortSignal.any([this.#o.signal, AbortSignal.timeout(5000)]) });
      await res.arrayBuffer();
      return res.ok;
    } catch {
      return false; // refused, reset or timed out: not up
    }
  }

  async version(): Promise<string> {
    return (await this.#json<{ version: string }>('/version')).body.version;
  }

  async #count(path: string): Promise<number> {
    const { total } = await this.#json<unknown[]>(`${path}?limit=1`);
    if (total === undefined || !Number.isInteger(total)) throw new SourceError(`${this.#o.what}: GET /api/v1${path} gave no X-Total-Count`, { hint: 'is url a Gitea (1.17 or later)?' });
    return total;
  }

  /** Every repository's full name, page by page (an admin token sees all, private ones too). */
  async repositories(): Promise<string[]> {
    const names: string[] = [];
    for (let page = 1; ; page++) {
      const { body } = await this.#json<{ data: Array<{ full_name: string }> }>(`/repos/search?limit=${PAGE}&page=${page}&sort=id&order=asc`);
      names.push(...body.data.map((r) => r.full_name));
      if (body.data.length < PAGE) return names.sort();
    }
  }

  async refs(fullName: string): Promise<RefsDigest> {
    const [owner, name] = fullName.split('/') as [string, string];
    const { body } = await this.#json<Array<{ ref: string; object: { sha: string } }>>(`/repos/${encodeURIComponent(owner)}/${encodeURIComponent(name)}/git/refs`, []);
    const lines = body.map((r) => `${r.ref} ${r.object.sha}\n`).sort();
    return { refs: lines.length, sha256: createHash('sha256').update(lines.join('')).digest('hex') };
  }

  async fingerprint(): Promise<GiteaFingerprint> {
    const repos = await this.repositories();
    const refs: Record<string, RefsDigest> = {};
    for (const r of repos) refs[r] = await this.refs(r);
    return { users: await this.#count('/admin/users'), orgs: await this.#count('/admin/orgs'), repositories: repos.length, refs };
  }
}
