/**
 * The `gitea` source: a Gitea (or Forgejo) instance, through its own `gitea dump`.
 *
 * Backup runs `gitea dump --file - --type tar` where Gitea lives (the runner: this host or its
 * container), as Gitea's user, and streams the uncompressed tar into the repository as one
 * artifact (uncompressed, so unchanged repositories and files dedup from one dump to the next).
 * The dump is accepted only when gitea exits 0 and the stream ends with tar's end-of-archive
 * blocks: a dump cut short is never stored as a backup.
 *
 * Restore is Gitea's documented manual procedure (gitea-restore.ts), with Gitea stopped
 * (stop_command / start_command; a Gitea that still answers is refused), then `gitea admin
 * regenerate hooks`. The database dump is loaded for SQLite only; a Gitea on PostgreSQL or
 * MySQL is backed up with skip_database and its database by a source of its own.
 *
 * The fingerprint, through the API with an admin token: user, organisation and repository
 * counts and, per repository, the digest of its refs.
 */
import { SourceError, CancelledError, LifeboatError, errorMessage } from '../../core/errors.ts';
import { describeCommand, type RunSpec } from '../../core/command-runner.ts';
import type {
  ArtifactReader, ArtifactSink, BackupOutcome, Fingerprint, RestoreOptions, ScratchTarget, Source, SourceContext, VerifyResult,
} from '../../core/source.ts';
import type { RunningCommand } from '../../core/command-runner.ts';
import { collect, feed, guardedOutput, stageFile, succeeded, watchIdle } from '../process-kit.ts';
import { sourceTimeouts } from '../source-kit.ts';
import type { SourceDeps, SourceType } from '../source-kit.ts';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { nowMs } from '../../util/clock.ts';
import { GiteaClient } from './gitea-client.ts';
import { giteaKeys, type GiteaConfig } from './gitea-config.ts';
import { DB_DUMP, TarFormatError, checkDumpLayout, giteaLayout, parseIni, scanTar, type GiteaLayout } from './gitea-dump.ts';
import { drillIni, formatIni } from './gitea-drill-ini.ts';
import { RESTORE_SCRIPT, restoreArgs, type RestorePaths } from './gitea-restore.ts';

export const DUMP_ARTIFACT = 'gitea-dump.tar';
/** `{ "version": "1.26.0" }`: the Gitea that made the dump (an older one cannot open its database). */
export const VERSION_ARTIFACT = 'gitea.json';
const END_OF_ARCHIVE = Buffer.alloc(1024);
const START_TIMEOUT_MS = 120_000;

/** A drill's scratch Gitea: its dir where Gitea lives, its loopback port, its server once started. */
interface Scratch {
  readonly dir: string;
  readonly port: number;
  server?: RunningCommand;
}

/** A free TCP port on this host's loopback (the scratch Gitea listens where lifeboat reaches it). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer().once('error', reject).listen(0, '127.0.0.1', () => {
      const p = (srv.address() as { port: number }).port;
      srv.close(() => resolve(p));
    });
  });
}

/**
 * Gitea's fatal log line in a tail of its stdout: before its logger is set up (settings
 * loaded, the RUN_USER check) Gitea logs to stdout, not stderr, so that is where it says why.
 */
/** Compares "1.26.0" with "1.25.4+dev": by the numbers of major.minor.patch only. */
export function compareVersions(a: string, b: string): number {
  const nums = (v: string): number[] => (/^(\d+)\.(\d+)\.(\d+)/.exec(v)?.slice(1) ?? []).map(Number);
  const [x, y] = [nums(a), nums(b)];
  for (let i = 0; i < 3; i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0);
  return 0;
}

function fatalLine(tail: Buffer): string {
  const m = /\[F\] ([^\n]*)\s*$/.exec(tail.toString('utf8'));
  return m ? (m[1] as string).trim() : '';
}

export class GiteaSource implements Source {
  readonly name: string;
  readonly type = 'gitea';
  readonly #config: GiteaConfig;
  readonly #deps: SourceDeps;
  readonly #scratch = new Map<string, Scratch>();

  constructor(name: string, config: GiteaConfig, deps: SourceDeps) {
    this.name = name;
    this.#config = config;
    this.#deps = deps;
  }

  get #what(): string {
    return `gitea source ${this.name}`;
  }

  async #client(ctx: SourceContext, url = this.#config.url): Promise<GiteaClient> {
    const token = await this.#deps.secrets(this.#config.token, `token of ${this.#what}`);
    return new GiteaClient({ what: `${this.#what} (${new URL(url).host})`, url, token, timeoutMs: sourceTimeouts(this.#config).connectMs, signal: ctx.signal });
  }

  /** `gitea <args> --config … [--work-path …]`, as Gitea's user when `user` is set. */
  #gitea(args: readonly string[], ctx: SourceContext, config = this.#config.config): RunSpec {
    const full = [...args, '--config', config, ...(this.#config.work_path === undefined ? [] : ['--work-path', this.#config.work_path])];
    const bin = this.#config.bin ?? 'gitea';
    if (this.#config.user === undefined) return { command: bin, args: full, signal: ctx.signal };
    // Gitea refuses to run as another user than RUN_USER; su works alike in Debian and Alpine (busybox).
    return { command: 'su', args: ['-s', '/bin/sh', '-c', `exec ${describeCommand({ command: bin, args: full })}`, this.#config.user], signal: ctx.signal };
  }

  #failed(label: string, fin: { code: number | null; signal: NodeJS.Signals | null; stderr: string }): SourceError {
    const last = fin.stderr.trim().split('\n').filter(Boolean).slice(-2).join(' | ') || `exit code ${fin.code ?? fin.signal}`;
    const missing = fin.code === 127 || /not found|ENOENT/.test(last);
    const hint = missing ? 'install Gitea where it runs or set bin (and container/compose when it runs in one)'
      : /Expect user|run as root|not supposed to be run as root/i.test(last) ? 'set user to Gitea\'s RUN_USER (lifeboat must run as root there to switch to it)'
        : 'check config (the app.ini), work_path and user';
    return new SourceError(`${this.#what}: ${label} failed: ${last}`, { hint });
  }

  async backup(sink: ArtifactSink, ctx: SourceContext): Promise<BackupOutcome> {
    if (ctx.signal.aborted) throw new CancelledError(`${this.#what}: backup cancelled`);
    const client = await this.#client(ctx);
    const version = await client.version();
    const serverVersion = `Gitea ${version}`;
    const fingerprint = await client.fingerprint();
    const spec = this.#gitea(['dump', '--file', '-', '--type', 'tar', '--quiet', ...(this.#config.skip_database === true ? ['--skip-db'] : [])], ctx);
    const cmd = watchIdle(this.#deps.runner.start(spec), sourceTimeouts(this.#config).idleMs);
    cmd.stdin.end();
    const stream = guardedOutput(cmd, (fin, tail) => {
      if (ctx.signal.aborted) return new CancelledError(`${this.#what}: backup cancelled`);
      if (!succeeded(fin)) return this.#failed('gitea dump', { ...fin, stderr: fin.stderr.trim() || fatalLine(tail) });
      if (tail.length < END_OF_ARCHIVE.length || !tail.subarray(-END_OF_ARCHIVE.length).equals(END_OF_ARCHIVE)) {
        return new SourceError(`${this.#what}: gitea dump exited 0 but its tar has no end-of-archive blocks: the dump is incomplete and was not kept`, { hint: 'check that nothing else writes to gitea dump\'s stdout (bin must be Gitea itself)' });
      }
      return undefined;
    }, 2048);
    let size: number;
    try {
      size = (await sink.put(DUMP_ARTIFACT, stream)).size;
      await sink.put(VERSION_ARTIFACT, (async function* () {
        yield Buffer.from(`${JSON.stringify({ version })}\n`);
      })());
    } catch (err) {
      if (ctx.signal.aborted) throw new CancelledError(`${this.#what}: backup cancelled`, { cause: err });
      if (err instanceof LifeboatError) throw err;
      throw new SourceError(`${this.#what}: storing the dump failed: ${errorMessage(err)}`, { cause: err });
    }
    ctx.log.info(`${this.#what}: ${serverVersion}, ${fingerprint.repositories} repositories, ${fingerprint.users} users, ${fingerprint.orgs} orgs, dump ${size} bytes`);
    return { fingerprint: { ...fingerprint }, serverVersion, commands: [describeCommand(spec)] };
  }

  async #bash(command: string, label: string, ctx: SourceContext): Promise<void> {
    const r = await collect(this.#deps.runner, { command: 'bash', args: ['-o', 'pipefail', '-c', command], signal: ctx.signal });
    if (!succeeded(r)) throw new SourceError(`${this.#what}: ${label} failed (${r.signal ?? `exit ${r.code}`}): ${r.stderr.trim().split('\n').slice(-2).join(' | ')}`);
  }

  async #waitUp(client: GiteaClient, up: boolean, label: string, ctx: SourceContext): Promise<void> {
    const deadline = nowMs() + START_TIMEOUT_MS;
    while ((await client.isUp()) !== up) {
      if (ctx.signal.aborted) throw new CancelledError(`${this.#what}: restore cancelled`);
      if (nowMs() > deadline) throw new SourceError(`${this.#what}: Gitea is ${up ? 'not up' : 'still up'} ${START_TIMEOUT_MS / 1000} s after ${label}`, { hint: `check ${label}` });
      await sleep(200);
    }
  }

  /** Reads the dump once to its end: its app.ini, its entries, whether it is whole. */
  async #scan(reader: ArtifactReader): Promise<{ layout: GiteaLayout; hasDb: boolean; ini: string }> {
    if (!reader.list().some((a) => a.name === DUMP_ARTIFACT)) {
      throw new SourceError(`${this.#what}: the snapshot has no ${DUMP_ARTIFACT}`, { hint: 'pick a snapshot made by a gitea source' });
    }
    const scan = await scanTar(reader.open(DUMP_ARTIFACT), (n) => n === 'app.ini').catch((err: unknown) => {
      if (err instanceof TarFormatError) throw new SourceError(`${this.#what}: ${DUMP_ARTIFACT} is not a readable tar: ${err.message}`);
      throw err;
    });
    const hasDb = scan.entries.some((e) => e.name === DB_DUMP);
    const [, problems] = checkDumpLayout(scan, false);
    if (problems.length > 0) throw new SourceError(`${this.#what}: ${DUMP_ARTIFACT}: ${problems.join('; ')}`, { hint: 'pick another snapshot; lifeboat verify checks them' });
    const ini = (scan.files.get('app.ini') as Buffer).toString('utf8');
    const layout = giteaLayout(parseIni(ini), this.#config.work_path);
    if (typeof layout === 'string') throw new SourceError(`${this.#what}: ${layout}`, { hint: 'set work_path to Gitea\'s work path' });
    return { layout, hasDb, ini };
  }

  /** Runs the restore script where Gitea lives with the dump on stdin, then regenerates the hooks. */
  async #unpack(reader: ArtifactReader, paths: RestorePaths, ctx: SourceContext): Promise<void> {
    const cmd = this.#deps.runner.start({ command: 'bash', args: ['-c', RESTORE_SCRIPT, 'lifeboat-gitea-restore', ...restoreArgs(paths)], signal: ctx.signal });
    cmd.stdout.resume();
    const [fin] = await Promise.all([cmd.done, feed(cmd, reader.open(DUMP_ARTIFACT))]);
    if (ctx.signal.aborted) throw new CancelledError(`${this.#what}: restore cancelled`);
    if (!succeeded(fin)) throw new SourceError(`${this.#what}: restoring the dump failed: ${fin.stderr.trim().split('\n').filter(Boolean).slice(-1)[0] ?? `exit ${fin.code}`}`);
    const hooks = await collect(this.#deps.runner, this.#gitea(['admin', 'regenerate', 'hooks'], ctx, paths.config));
    if (!succeeded(hooks)) throw this.#failed('gitea admin regenerate hooks', hooks);
  }

  async restore(reader: ArtifactReader, ctx: SourceContext, opts: RestoreOptions = {}): Promise<void> {
    const { layout, hasDb, ini } = await this.#scan(reader);
    if (hasDb && layout.dbType !== 'sqlite3') {
      throw new SourceError(`${this.#what}: the dump holds a ${layout.dbType} database, which the gitea source does not load (only SQLite)`, {
        hint: 'back up Gitea with skip_database: true and its database with a postgres or mysql source; load gitea-db.sql by hand for this snapshot',
      });
    }
    await this.#checkVersion(reader, ctx);
    if (opts.to !== undefined) return this.#restoreScratch(reader, ini, layout, hasDb, opts.to, ctx);
    const loadDb = hasDb && this.#config.skip_database !== true;
    const client = await this.#client(ctx);
    if (this.#config.stop_command !== undefined) {
      await this.#bash(this.#config.stop_command, 'stop_command', ctx);
      await this.#waitUp(client, false, 'stop_command', ctx);
    } else if (await client.isUp()) {
      throw new SourceError(`${this.#what}: Gitea at ${new URL(this.#config.url).host} is running; it must be stopped while its files and database are replaced`, {
        hint: 'set stop_command and start_command, or stop Gitea in a restore.hooks.before hook',
      });
    }
    try {
      await this.#unpack(reader, {
        config: this.#config.config, data: layout.dataPath, repos: layout.repoRoot, custom: layout.customPath, db: layout.dbPath,
        owner: this.#config.user ?? '', loadDb, appIni: '',
      }, ctx);
    } finally {
      // Started again also after a failure: the old files are then back in place.
      if (this.#config.start_command !== undefined) {
        await this.#bash(this.#config.start_command, 'start_command', ctx);
        await this.#waitUp(client, true, 'start_command', ctx);
      }
    }
    ctx.log.info(`${this.#what}: restored into ${layout.workPath} (data ${layout.dataPath}, repositories ${layout.repoRoot}${loadDb ? `, database ${layout.dbPath}` : ''})`);
  }

  /**
   * Refuses a dump made by a newer Gitea than the one that would run on it: an older Gitea
   * cannot use a newer database schema (repositories and orgs that seem to vanish, go-gitea
   * #12614). A newer Gitea migrates the restored database when it starts.
   */
  async #checkVersion(reader: ArtifactReader, ctx: SourceContext): Promise<void> {
    if (!reader.list().some((a) => a.name === VERSION_ARTIFACT)) return;
    const parts: Buffer[] = [];
    for await (const c of reader.open(VERSION_ARTIFACT)) parts.push(Buffer.from(c));
    const dumped = String((JSON.parse(Buffer.concat(parts).toString('utf8')) as { version?: unknown }).version ?? '');
    const bin = this.#config.bin ?? 'gitea';
    const r = await collect(this.#deps.runner, { command: bin, args: ['--version'], signal: ctx.signal });
    const live = /version (\d+\.\d+\.\d+\S*)/.exec(r.stdout)?.[1];
    if (!succeeded(r) || live === undefined) throw this.#failed(`${bin} --version`, r);
    if (compareVersions(live, dumped) < 0) {
      throw new SourceError(`${this.#what}: the dump was made by Gitea ${dumped}, and ${bin} is the older ${live}: an older Gitea cannot use the newer database`, {
        hint: `install Gitea ${dumped} or newer where Gitea runs, then restore again`,
      });
    }
  }

  /** Into a drill's scratch dir, with an app.ini that keeps the scratch Gitea to itself. */
  async #restoreScratch(reader: ArtifactReader, ini: string, layout: GiteaLayout, hasDb: boolean, to: string, ctx: SourceContext): Promise<void> {
    const s = this.#scratch.get(to);
    if (s === undefined) throw new SourceError(`${this.#what}: restore.to is not supported: a Gitea restore replaces the instance in place`, { hint: 'restore without to, or drill the snapshot' });
    if (!hasDb) throw new SourceError(`${this.#what}: the dump has no database (skip_database), so a scratch Gitea cannot be drilled from it`, { hint: 'drill the database with its own source; lifeboat verify checks this dump' });
    const text = formatIni(drillIni(parseIni(ini), layout, s.dir, s.port));
    const staged = await stageFile(this.#deps.runner, this.#deps.tmpDir, 'app.ini', text, ctx.signal);
    try {
      await this.#unpack(reader, {
        config: `${s.dir}/custom/conf/app.ini`, data: `${s.dir}/data`, repos: `${s.dir}/repositories`, custom: `${s.dir}/custom`, db: `${s.dir}/data/gitea.db`,
        owner: this.#config.user ?? '', loadDb: true, appIni: staged.path,
      }, ctx);
    } finally {
      await staged.remove();
    }
  }

  async fingerprint(ctx: SourceContext, opts: RestoreOptions = {}): Promise<Fingerprint> {
    if (opts.to === undefined) return { ...(await (await this.#client(ctx)).fingerprint()) };
    const s = this.#scratch.get(opts.to);
    if (s === undefined) throw new SourceError(`${this.#what}: no scratch Gitea serves ${opts.to}`, { hint: 'fingerprint a drill target made by this source' });
    const client = await this.#client(ctx, `http://127.0.0.1:${s.port}`);
    if (s.server === undefined) {
      const server = this.#deps.runner.start(this.#gitea(['web', '--port', String(s.port)], ctx, `${s.dir}/custom/conf/app.ini`));
      s.server = server;
      server.stdin.end();
      let out: Buffer = Buffer.alloc(0);
      server.stdout.on('data', (c: Buffer) => void (out = Buffer.concat([out, c]).subarray(-2048)));
      let exited: string | undefined;
      void server.done.then((e) => (exited = `${e.signal ?? `exit ${e.code}`}: ${e.stderr.trim().split('\n').slice(-2).join(' | ') || fatalLine(out)}`));
      const deadline = nowMs() + START_TIMEOUT_MS;
      while (!(await client.isUp())) {
        if (exited !== undefined || nowMs() > deadline || ctx.signal.aborted) {
          throw new SourceError(`${this.#what}: the scratch Gitea in ${s.dir} did not start: ${exited ?? 'no answer on /api/v1/version'}`, { hint: 'the drill runs it where lifeboat reaches 127.0.0.1 (not in a container of its own network)' });
        }
        await sleep(200);
      }
    }
    return { ...(await client.fingerprint()) };
  }

  /** Reads the dump to its end: complete, app.ini and gitea-db.sql present, repositories bare. */
  async verify(reader: ArtifactReader): Promise<VerifyResult> {
    if (!reader.list().some((a) => a.name === DUMP_ARTIFACT)) return { checks: [], problems: [`${DUMP_ARTIFACT}: missing from the snapshot`] };
    try {
      const scan = await scanTar(reader.open(DUMP_ARTIFACT));
      const [checks, problems] = checkDumpLayout(scan, this.#config.skip_database !== true);
      return { checks, problems: problems.map((p) => `${DUMP_ARTIFACT}: ${p}`) };
    } catch (err) {
      if (err instanceof TarFormatError) return { checks: [], problems: [`${DUMP_ARTIFACT}: ${err.message}`] };
      throw err;
    }
  }

  /** A new dir where Gitea lives (its temp dir), and a loopback port for the scratch Gitea. */
  async scratchTarget(_reader: ArtifactReader, ctx: SourceContext): Promise<ScratchTarget> {
    const owner = this.#config.user;
    const script = `set -e; d=$(mktemp -d "\${TMPDIR:-/tmp}/lifeboat-gitea-drill.XXXXXX"); ${owner === undefined ? '' : 'if [ "$(id -u)" = 0 ]; then chown "$1" "$d"; fi; '}echo "$d"`;
    const r = await collect(this.#deps.runner, { command: 'bash', args: ['-c', script, 'lifeboat-gitea-drill', ...(owner === undefined ? [] : [owner])], signal: ctx.signal });
    if (!succeeded(r)) throw new SourceError(`${this.#what}: cannot create a scratch dir for the drill: ${r.stderr.trim()}`);
    const dir = r.stdout.trim();
    const s: Scratch = { dir, port: await freePort() };
    this.#scratch.set(dir, s);
    return {
      to: dir,
      description: `scratch Gitea in ${dir} on 127.0.0.1:${s.port} (SQLite)`,
      cleanup: async () => {
        if (s.server !== undefined) {
          s.server.kill('SIGTERM');
          await s.server.done;
          s.server = undefined;
        }
        this.#scratch.delete(dir);
        await collect(this.#deps.runner, { command: 'rm', args: ['-rf', '--', dir] });
      },
    };
  }
}

export const giteaType = {
  type: 'gitea',
  description: 'Gitea / Forgejo: gitea dump (tar) streamed from where Gitea runs; restore per Gitea\'s procedure (SQLite database)',
  keys: giteaKeys,
  create: (name, config, deps): Source => new GiteaSource(name, config, deps),
} satisfies SourceType<GiteaConfig>;
