/**
 * The `neo4j` source: Neo4j 5 databases as `neo4j-admin database dump` archives.
 *
 * Community Edition can only dump an offline DBMS ("it is not possible to dump a database that is
 * mounted in a running Neo4j server"), so a backup fingerprints the running databases, runs
 * `stop_command`, streams `neo4j-admin database dump <db> --to-stdout` of each database into
 * `<db>.dump` (`system` included: users, roles and the database list live there), and always runs
 * `start_command` afterwards, waiting until every database is online again. A restore stops the
 * DBMS the same way and streams each archive into `neo4j-admin database load <db> --from-stdin
 * --overwrite-destination=true`, `system` first.
 *
 * verify reads each archive's header (`DZV1` zstd or `DGV1` gzip) and has `neo4j-admin database
 * load --info` describe it, which never touches the DBMS. There is no drill target: Community
 * cannot create a second user database to restore beside the live one.
 *
 * `mode: online` never stops the DBMS: it exports and loads through Bolt (neo4j-online.ts,
 * which says what such an export keeps and what it cannot), and fingerprints through Bolt too.
 */
import { CancelledError, ConfigError, SourceError, errorMessage } from '../../core/errors.ts';
import { describeCommand } from '../../core/command-runner.ts';
import type { RunSpec } from '../../core/command-runner.ts';
import type {
  ArtifactReader, ArtifactSink, BackupOutcome, Fingerprint, RestoreOptions, Source, SourceContext, VerifyResult,
} from '../../core/source.ts';
import { collect, feed, guardedOutput, scrub, succeeded, watchIdle } from '../process-kit.ts';
import type { Finished } from '../process-kit.ts';
import { parseDurationMs, sourceTimeouts } from '../source-kit.ts';
import type { SourceDeps, SourceTimeouts, SourceType } from '../source-kit.ts';
import { Neo4jClient } from './neo4j-client.ts';
import { BOLT_SCHEMES, HTTP_SCHEMES, neo4jKeys } from './neo4j-config.ts';
import type { Neo4jConfig } from './neo4j-config.ts';
import { fingerprintDatabase, type CypherRunner } from './neo4j-fingerprint.ts';
import type { BoltClient } from './neo4j-bolt.ts';
import { nowMs } from '../../util/clock.ts';

const DUMP_SUFFIX = '.dump';
const DEFAULT_DATABASES = ['system', 'neo4j'];
const DEFAULT_START_TIMEOUT_MS = 3 * 60_000;
/** Archive magics of neo4j-admin 5 dumps: zstd (the default) and gzip. */
const DUMP_MAGICS = ['DZV1', 'DGV1'];

/** `system` first: loading it defines which databases the DBMS starts. */
const systemFirst = (a: string, b: string): number => (a === 'system' ? -1 : b === 'system' ? 1 : a < b ? -1 : a > b ? 1 : 0);

export class Neo4jSource implements Source {
  readonly name: string;
  readonly type = 'neo4j';
  readonly #config: Neo4jConfig;
  readonly #deps: SourceDeps;
  readonly #timeouts: SourceTimeouts;
  readonly #online: boolean;

  constructor(name: string, config: Neo4jConfig, deps: SourceDeps) {
    this.name = name;
    this.#config = config;
    this.#deps = deps;
    this.#timeouts = sourceTimeouts(config);
    this.#online = config.mode === 'online';
    const scheme = new URL(config.url).protocol;
    const bad = (key: string, msg: string, hint: string): ConfigError => new ConfigError(`neo4j source ${name}: ${msg}`, { key, hint });
    if (this.#online) {
      if (!BOLT_SCHEMES.includes(scheme)) throw bad('url', `mode online needs a Bolt url, not ${scheme}//`, 'url: bolt://host:7687 (or neo4j://, bolt+s://)');
      if (config.databases?.includes('system')) throw bad('databases', 'mode online cannot export the system database (users, roles)', 'list only user databases; the offline mode dumps system');
    } else {
      if (!HTTP_SCHEMES.includes(scheme)) throw bad('url', `the offline mode needs the HTTP url, not ${scheme}//`, 'url: http://host:7474, or set mode: online for a Bolt export');
      if (config.stop_command === undefined || config.start_command === undefined) {
        throw bad('stop_command', 'the offline mode needs stop_command and start_command (Community dumps only a stopped DBMS)', 'set both, or mode: online to export through Bolt while Neo4j runs');
      }
    }
  }

  get #stopCommand(): readonly string[] {
    return this.#config.stop_command ?? [];
  }

  get #startCommand(): readonly string[] {
    return this.#config.start_command ?? [];
  }

  get #what(): string {
    return `neo4j source ${this.name}`;
  }

  get #databases(): string[] {
    return this.#config.databases ?? (this.#online ? ['neo4j'] : DEFAULT_DATABASES);
  }

  #cancelled(what: string, cause?: unknown): CancelledError {
    return new CancelledError(`${what} of ${this.#what} cancelled`, cause === undefined ? {} : { cause });
  }

  async #password(): Promise<string | undefined> {
    return this.#config.password === undefined ? undefined : this.#deps.secrets(this.#config.password, `password of ${this.#what}`);
  }

  async #client(): Promise<Neo4jClient> {
    const c = this.#config;
    const password = await this.#password();
    const authorization = password === undefined ? undefined : `Basic ${Buffer.from(`${c.username ?? 'neo4j'}:${password}`).toString('base64')}`;
    return new Neo4jClient({ url: c.url, authorization, timeoutMs: this.#timeouts.connectMs, what: this.#what });
  }

  /** The Bolt client of the online mode; the driver is loaded only here, so offline sources never load it. */
  async #bolt(): Promise<BoltClient> {
    const { BoltClient } = await import('./neo4j-bolt.ts');
    const password = await this.#password();
    return new BoltClient({ url: this.#config.url, username: this.#config.username ?? 'neo4j', password, connectTimeoutMs: this.#timeouts.connectMs, what: this.#what });
  }

  /** Runs `work` of `what` with a Bolt client and always closes it; a failure after the signal is a cancellation. */
  async #withBolt<T>(what: string, signal: AbortSignal, work: (bolt: BoltClient) => Promise<T>): Promise<T> {
    const bolt = await this.#bolt();
    try {
      return await work(bolt);
    } catch (err) {
      if (signal.aborted && !(err instanceof CancelledError)) throw this.#cancelled(what, err);
      throw err;
    } finally {
      await bolt.close();
    }
  }

  #admin(args: string[], signal: AbortSignal): RunSpec {
    const [command, ...pre] = this.#config.admin_command ?? ['neo4j-admin'];
    return { command, args: [...pre, ...args], signal };
  }

  #failure(what: string, spec: RunSpec, fin: Finished, hint: string): SourceError {
    const how = fin.signal !== null ? `was killed by ${fin.signal}` : `exited with code ${fin.code}`;
    const detail = scrub(fin.stderr, undefined).split('\n').filter((l) => !/^Files: \d+\/\d+/.test(l)).slice(-3).join(' / ');
    return new SourceError(`${this.#what}: ${what} (${describeCommand(spec)}) ${how}${detail ? `: ${detail}` : ''}`, { data: { code: fin.code }, hint });
  }

  get #startTimeoutMs(): number {
    return this.#config.start_timeout === undefined ? DEFAULT_START_TIMEOUT_MS : parseDurationMs(this.#config.start_timeout);
  }

  /** Runs stop_command or start_command, bounded by start_timeout: a hung `docker stop` must not hold the backup. */
  async #step(argv: readonly string[], what: string, signal: AbortSignal): Promise<void> {
    const timeout = AbortSignal.timeout(this.#startTimeoutMs);
    const spec: RunSpec = { command: argv[0], args: argv.slice(1), signal: AbortSignal.any([signal, timeout]) };
    const fin = await collect(this.#deps.runner, spec);
    if (timeout.aborted && !signal.aborted) {
      throw new SourceError(`${this.#what}: ${what} (${describeCommand(spec)}) did not finish within ${Math.round(this.#startTimeoutMs / 1000)} s and was stopped`, {
        hint: `check the DBMS by hand; raise start_timeout if ${what} only needs longer`,
      });
    }
    if (!succeeded(fin)) throw this.#failure(what, spec, fin, `check ${what} in lifeboat.yml`);
  }

  /** Fingerprints of the user databases (the running DBMS); `system` is not comparable this way. */
  async #fingerprint(client: CypherRunner, signal: AbortSignal): Promise<Fingerprint> {
    const databases: Record<string, unknown> = {};
    for (const db of this.#databases.filter((d) => d !== 'system')) databases[db] = await fingerprintDatabase(client, db, signal);
    return { databases };
  }

  /** Polls until every configured database is online, or start_timeout passes. */
  async #waitOnline(client: Neo4jClient, signal: AbortSignal): Promise<void> {
    const limit = this.#startTimeoutMs;
    const deadline = nowMs() + limit;
    let last = '';
    for (;;) {
      try {
        const [rows] = await client.run('system', ['SHOW DATABASES YIELD name, currentStatus RETURN name, currentStatus'], signal);
        const status = new Map(rows.map((r) => [String(r[0]), String(r[1])]));
        const waiting = this.#databases.filter((d) => status.get(d) !== 'online');
        if (waiting.length === 0) return;
        last = waiting.map((d) => `${d} is ${status.get(d) ?? 'missing'}`).join(', ');
      } catch (err) {
        if (signal.aborted) throw err;
        last = errorMessage(err);
      }
      if (nowMs() > deadline) {
        throw new SourceError(`${this.#what}: Neo4j at ${client.url} is not back online ${Math.round(limit / 1000)} s after start_command (${last})`, {
          hint: 'check the Neo4j log and start it by hand; raise start_timeout if it only needs longer',
        });
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }

  /**
   * Runs `work` with the DBMS stopped, and always starts it again (also when stop_command failed). A failed start is reported even
   * after a successful dump: the store being down matters more than the backup.
   */
  async #offline<T>(client: Neo4jClient, ctx: SourceContext, work: () => Promise<T>): Promise<T> {
    let result: T;
    try {
      // Inside the try: a stop_command that failed or timed out may have stopped the DBMS anyway.
      await this.#step(this.#stopCommand, 'stop_command', ctx.signal);
      result = await work();
    } catch (err) {
      try {
        // Started even when the backup was cancelled: the signal that stopped the dump must not keep the store down.
        const fresh = new AbortController().signal;
        await this.#step(this.#startCommand, 'start_command', fresh);
        await this.#waitOnline(client, fresh);
      } catch (startErr) {
        ctx.log.warn(`${this.#what}: Neo4j could not be started again: ${errorMessage(startErr)}`);
      }
      throw err;
    }
    await this.#step(this.#startCommand, 'start_command', ctx.signal);
    await this.#waitOnline(client, ctx.signal);
    return result;
  }

  async backup(sink: ArtifactSink, ctx: SourceContext): Promise<BackupOutcome> {
    if (ctx.signal.aborted) throw this.#cancelled('backup');
    if (this.#online) {
      return this.#withBolt('backup', ctx.signal, async (bolt) => {
        const { backupGraphs } = await import('./neo4j-online.ts');
        const fingerprint = await this.#fingerprint(bolt, ctx.signal);
        await backupGraphs(bolt, sink, ctx, { what: this.#what, databases: this.#databases, counted: fingerprint.databases as Record<string, { nodes: number; relationships: number }> });
        return { fingerprint, serverVersion: await this.#version(bolt, ctx.signal), commands: this.#databases.map((db) => `bolt export of ${db} from ${this.#config.url}`) };
      });
    }
    const client = await this.#client();
    try {
      const fingerprint = await this.#fingerprint(client, ctx.signal);
      const commands: string[] = [describeCommand({ command: this.#stopCommand[0], args: this.#stopCommand.slice(1) })];
      await this.#offline(client, ctx, async () => {
        for (const db of this.#databases) {
          const spec = this.#admin(['database', 'dump', db, '--to-stdout'], ctx.signal);
          commands.push(describeCommand(spec));
          const cmd = watchIdle(this.#deps.runner.start(spec), this.#timeouts.idleMs);
          cmd.stdin.end();
          try {
            await sink.put(`${db}${DUMP_SUFFIX}`, guardedOutput(cmd, (fin) => (succeeded(fin) ? undefined : this.#failure(`dump of database ${db}`, spec, fin,
              'check admin_command in lifeboat.yml and that stop_command stopped the whole DBMS (Community dumps only an offline DBMS)'))));
          } catch (err) {
            // The sink may fail before it read anything: the tool must not stay blocked on a full pipe.
            cmd.kill('SIGKILL');
            await cmd.done;
            throw err;
          }
        }
      });
      commands.push(describeCommand({ command: this.#startCommand[0], args: this.#startCommand.slice(1) }));
      return { fingerprint, serverVersion: await this.#version(client, ctx.signal), commands };
    } catch (err) {
      if (ctx.signal.aborted && !(err instanceof CancelledError)) throw this.#cancelled('backup', err);
      throw err;
    }
  }

  async #version(client: CypherRunner, signal: AbortSignal): Promise<string | undefined> {
    try {
      const [[row]] = await client.run('system', ['CALL dbms.components() YIELD versions, edition RETURN versions[0], edition'], signal);
      return `Neo4j ${String(row[0])} ${String(row[1])}`;
    } catch {
      return undefined; // the version is informational; the backup itself succeeded
    }
  }

  async restore(reader: ArtifactReader, ctx: SourceContext, opts?: RestoreOptions): Promise<void> {
    if (ctx.signal.aborted) throw this.#cancelled('restore');
    if (opts?.to !== undefined) {
      throw new SourceError(`${this.#what}: restore to ${opts.to} is not supported`, {
        hint: 'a neo4j source restores into its own DBMS (Community has one user database); restore without a target',
      });
    }
    if (this.#online) {
      const clear = this.#config.clear_before_restore === true;
      return this.#withBolt('restore', ctx.signal, async (bolt) => (await import('./neo4j-online.ts')).restoreGraphs(bolt, reader, ctx, { what: this.#what, clear }));
    }
    const dumps = reader.list().map((a) => a.name).filter((n) => n.endsWith(DUMP_SUFFIX)).map((n) => n.slice(0, -DUMP_SUFFIX.length)).sort(systemFirst);
    if (dumps.length === 0) throw new SourceError(`${this.#what}: the snapshot holds no .dump archive`, { hint: 'pick a snapshot of this neo4j source' });
    const client = await this.#client();
    try {
      await this.#offline(client, ctx, async () => {
        for (const db of dumps) {
          const spec = this.#admin(['database', 'load', db, '--from-stdin', '--overwrite-destination=true'], ctx.signal);
          const cmd = this.#deps.runner.start(spec);
          cmd.stdout.resume();
          const [fin] = await Promise.all([cmd.done, feed(cmd, reader.open(`${db}${DUMP_SUFFIX}`))]);
          if (!succeeded(fin)) throw this.#failure(`load of database ${db}`, spec, fin, 'the DBMS was started again; fix the cause and restore again');
          ctx.log.info(`${this.#what}: loaded database ${db}`);
        }
      });
    } catch (err) {
      if (ctx.signal.aborted && !(err instanceof CancelledError)) throw this.#cancelled('restore', err);
      throw err;
    }
  }

  async fingerprint(ctx: SourceContext, opts?: RestoreOptions): Promise<Fingerprint> {
    if (ctx.signal.aborted) throw this.#cancelled('fingerprint');
    if (opts?.to !== undefined) throw new SourceError(`${this.#what}: fingerprint of ${opts.to} is not supported`, { hint: 'fingerprint the source itself' });
    if (this.#online) return this.#withBolt('fingerprint', ctx.signal, (bolt) => this.#fingerprint(bolt, ctx.signal));
    return this.#fingerprint(await this.#client(), ctx.signal);
  }

  async verify(reader: ArtifactReader, ctx: SourceContext): Promise<VerifyResult> {
    if (ctx.signal.aborted) throw this.#cancelled('verify');
    if (this.#online) return (await import('./neo4j-online.ts')).verifyGraphs(reader, this.#databases);
    const checks: string[] = [];
    const problems: string[] = [];
    const names = new Set(reader.list().map((a) => a.name));
    for (const db of this.#databases) {
      const name = `${db}${DUMP_SUFFIX}`;
      if (!names.has(name)) {
        problems.push(`${name}: missing from the snapshot`);
        continue;
      }
      const spec = this.#admin(['database', 'load', '--info', '--from-stdin', db], ctx.signal);
      let head = Buffer.alloc(0);
      const input = (async function* () {
        for await (const chunk of reader.open(name)) {
          if (head.length < 4) head = Buffer.concat([head, chunk]).subarray(0, 4);
          yield chunk;
        }
      })();
      const fin = await collect(this.#deps.runner, spec, input).catch((err: unknown) => {
        if (ctx.signal.aborted) throw this.#cancelled('verify', err);
        return { code: null, signal: null, stderr: errorMessage(err), stdout: '' };
      });
      if (!DUMP_MAGICS.includes(head.toString('latin1'))) {
        problems.push(`${name}: not a neo4j-admin dump (header ${JSON.stringify(head.toString('latin1'))}, expected DZV1 or DGV1)`);
        continue;
      }
      const files = /Files: (\d+)/.exec(fin.stdout);
      if (!succeeded(fin) || files === null) {
        problems.push(this.#failure(`describing ${name}`, spec, fin, '').message);
        continue;
      }
      const format = /Format: (.*)/.exec(fin.stdout)?.[1]?.trim() ?? 'unknown format';
      checks.push(`${name}: ${format.replace(/\.$/, '')}, ${files[1]} store files (neo4j-admin database load --info)`);
    }
    return { checks, problems };
  }
}

export const neo4jType = {
  type: 'neo4j',
  description: 'Neo4j 5 databases (system included) as neo4j-admin dumps, taken with the DBMS stopped by stop_command and started again by start_command; or, with mode: online, a logical export through Bolt while it runs',
  keys: neo4jKeys,
  create: (name, config, deps) => new Neo4jSource(name, config, deps),
} satisfies SourceType<Neo4jConfig>;
