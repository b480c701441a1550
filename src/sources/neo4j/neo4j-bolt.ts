/**
 * The subset of `neo4j-driver` (Bolt) the online mode needs: a streamed read (records pulled in
 * fetch-size batches, the next batch only when the consumer asks: the graph is never held in
 * memory), writes in their own transactions, and auto-commit statements (`CALL { … } IN
 * TRANSACTIONS` must not run inside an explicit transaction). The password goes only into the
 * driver's auth token. Errors become SourceErrors that name the database and never the secret.
 */
import neo4j from 'neo4j-driver';
import type { Driver, Session } from 'neo4j-driver';
import { CancelledError, SourceError, errorMessage } from '../../core/errors.ts';

export interface BoltOptions {
  readonly url: string;
  readonly username: string;
  readonly password: string | undefined;
  readonly connectTimeoutMs: number;
  /** For messages: `neo4j source graph`. */
  readonly what: string;
}

/** Records per PULL: bounds what the driver buffers for a streamed read. */
const FETCH_SIZE = 1000;

/** Plain JS numbers for the small integers of counts and schema rows. */
const plain = (v: unknown): unknown => (neo4j.isInt(v) ? (v.inSafeRange() ? v.toNumber() : v.toString()) : Array.isArray(v) ? v.map(plain) : v);

export class BoltClient {
  readonly #o: BoltOptions;
  readonly #driver: Driver;

  constructor(o: BoltOptions) {
    this.#o = o;
    const auth = o.password === undefined ? undefined : neo4j.auth.basic(o.username, o.password);
    this.#driver = neo4j.driver(o.url, auth, { connectionTimeout: o.connectTimeoutMs, fetchSize: FETCH_SIZE, disableLosslessIntegers: false, logging: { level: 'error', logger: () => undefined } });
  }

  get url(): string {
    return this.#o.url;
  }

  #error(database: string, err: unknown): SourceError {
    const code = (err as { code?: string }).code ?? '';
    const where = `Bolt on database ${database} at ${this.#o.url}`;
    if (code === 'Neo.ClientError.Security.Unauthorized') return new SourceError(`${this.#o.what}: ${where}: authentication failed`, { hint: 'check username and password in lifeboat.yml' });
    let msg = errorMessage(err).split('\n')[0];
    if (this.#o.password !== undefined) msg = msg.replaceAll(this.#o.password, '***');
    return new SourceError(`${this.#o.what}: ${where} failed: ${code ? `${code}: ` : ''}${msg}`, {
      cause: err,
      retryable: code.startsWith('Neo.TransientError') || code === 'ServiceUnavailable' || code === 'SessionExpired',
      hint: code === 'ServiceUnavailable' ? 'check `url` in lifeboat.yml (bolt://host:7687) and that Neo4j is running' : 'see the Neo4j log for details',
    });
  }

  async #with<T>(database: string, signal: AbortSignal, mode: 'READ' | 'WRITE', work: (s: Session) => Promise<T>): Promise<T> {
    const session = this.#driver.session({ database, defaultAccessMode: mode === 'READ' ? neo4j.session.READ : neo4j.session.WRITE });
    const onAbort = (): void => void session.close();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      return await work(session);
    } catch (err) {
      if (signal.aborted) throw err;
      throw this.#error(database, err);
    } finally {
      signal.removeEventListener('abort', onAbort);
      await session.close();
    }
  }

  /** Statements in one read transaction; each statement's rows (integers as numbers). Neo4jClient's shape, for the fingerprint. */
  async run(database: string, statements: readonly string[], signal: AbortSignal): Promise<unknown[][][]> {
    return this.#with(database, signal, 'READ', (s) => s.executeRead(async (tx) => {
      const out: unknown[][][] = [];
      for (const st of statements) out.push((await tx.run(st)).records.map((r) => r.keys.map((k) => plain(r.get(k)))));
      return out;
    }));
  }

  /** One query's records as they arrive, in one read transaction; stopping early closes it. */
  async *stream(database: string, query: string, signal: AbortSignal): AsyncGenerator<Record<string, unknown>> {
    const session = this.#driver.session({ database, defaultAccessMode: neo4j.session.READ, fetchSize: FETCH_SIZE });
    const tx = session.beginTransaction();
    try {
      for await (const r of tx.run(query)) {
        // A cut-short read must fail, never end as if the graph ended there.
        if (signal.aborted) throw new CancelledError(`${this.#o.what}: read of database ${database} cancelled`);
        yield r.toObject() as Record<string, unknown>;
      }
      await tx.commit();
    } catch (err) {
      if (signal.aborted || err instanceof CancelledError) throw err;
      throw this.#error(database, err);
    } finally {
      if (tx.isOpen()) await tx.rollback().catch(() => undefined); // already failed; the cause is reported above
      await session.close();
    }
  }

  /** One parameterised write in its own transaction. */
  async write(database: string, query: string, params: Record<string, unknown>, signal: AbortSignal): Promise<void> {
    await this.#with(database, signal, 'WRITE', (s) => s.executeWrite(async (tx) => void (await tx.run(query, params))));
  }

  /** An auto-commit statement (schema changes, `CALL { … } IN TRANSACTIONS`); its rows. */
  async autoCommit(database: string, query: string, signal: AbortSignal): Promise<unknown[][]> {
    return this.#with(database, signal, 'WRITE', async (s) => (await s.run(query)).records.map((r) => r.keys.map((k) => plain(r.get(k)))));
  }

  async close(): Promise<void> {
    await this.#driver.close();
  }
}
