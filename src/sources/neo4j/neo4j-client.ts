/**
 * The subset of Neo4j's HTTP API this source needs: Cypher through the transactional endpoint
 * (`POST /db/<database>/tx/commit`, in Community too), over node's fetch with a timeout and the
 * caller's signal. The password travels only in the Authorization header.
 */
import { SourceError, errorMessage } from '../../core/errors.ts';

export interface Neo4jClientOptions {
  readonly url: string;
  readonly authorization?: string;
  readonly timeoutMs: number;
  /** For messages: `neo4j source graph`. */
  readonly what: string;
}

interface TxResponse {
  results: Array<{ columns: string[]; data: Array<{ row: unknown[] }> }>;
  errors: Array<{ code: string; message: string }>;
}

export class Neo4jClient {
  readonly #o: Neo4jClientOptions;

  constructor(options: Neo4jClientOptions) {
    this.#o = options;
  }

  get url(): string {
    return this.#o.url;
  }

  /** Runs statements in one transaction; returns each statement's rows. */
  async run(database: string, statements: readonly string[], signal: AbortSignal): Promise<unknown[][][]> {
    const where = `Cypher on database ${database} at ${this.#o.url}`;
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
    if (this.#o.authorization !== undefined) headers.authorization = this.#o.authorization;
    const timeout = AbortSignal.timeout(this.#o.timeoutMs);
    let res: Response;
    let body: TxResponse;
    try {
      res = await fetch(new URL(`/db/${encodeURIComponent(database)}/tx/commit`, this.#o.url), {
        method: 'POST',
        headers,
        body: JSON.stringify({ statements: statements.map((statement) => ({ statement })) }),
        signal: AbortSignal.any([signal, timeout]),
      });
      body = await res.json() as TxResponse;
    } catch (err) {
      if (signal.aborted) throw err;
      throw new SourceError(`${this.#o.what}: ${where} ${timeout.aborted ? 'timed out' : `failed: ${errorMessage(err)}`}`, {
        cause: err,
        retryable: true,
        hint: 'check `url` in lifeboat.yml and that Neo4j is running',
      });
    }
    const first = body.errors?.[0];
    if (res.status === 401 || first?.code === 'Neo.ClientError.Security.Unauthorized') {
      throw new SourceError(`${this.#o.what}: ${where}: authentication failed`, { hint: 'check username and password in lifeboat.yml' });
    }
    if (!res.ok || first !== undefined) {
      throw new SourceError(`${this.#o.what}: ${where} failed: ${first !== undefined ? `${first.code}: ${first.message}` : `HTTP ${res.status}`}`, {
        retryable: first?.code.startsWith('Neo.TransientError') ?? res.status >= 500,
        hint: 'see the Neo4j log for details',
      });
    }
    return body.results.map((r) => r.data.map((d) => d.row));
  }
}
