/**
 * The `n8n` source: n8n's workflows and credentials through its server CLI.
 *
 * Backup exports both (credentials encrypted, as n8n stores them) into workflows.json and
 * credentials.json. The CLI prints log lines on stdout, so each export goes to a 0600 file in
 * the source's temp dir, is streamed into the repository and removed. The credentials are only
 * usable with the instance's encryption key (N8N_ENCRYPTION_KEY, or the key n8n generated into
 * <user folder>/.n8n/config): the backup says so in a warning unless `encryption_key` is set.
 *
 * Restore imports credentials, then workflows (they refer to credentials). n8n's import
 * overwrites rows with the same ids and deletes nothing, and it deactivates every imported
 * workflow: the restore names the workflows that were active and those that exist live but not
 * in the backup. The fingerprint is n8n-fingerprint.ts's, from a fresh export.
 *
 * verify parses both files (arrays, ids, nodes; credentials still encrypted). A drill imports
 * into a new user folder with its own SQLite database (`to`), with the same encryption key.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { SourceError, errorMessage } from '../../core/errors.ts';
import type {
  ArtifactReader, ArtifactSink, BackupOutcome, Fingerprint, RestoreOptions, ScratchTarget, Source, SourceContext, VerifyResult,
} from '../../core/source.ts';
import type { SourceDeps, SourceType } from '../source-kit.ts';
import { N8nCli, type N8nKind } from './n8n-cli.ts';
import { n8nKeys, type N8nConfig } from './n8n-config.ts';
import { exportProblem, fingerprintN8n, type N8nCredential, type N8nWorkflow } from './n8n-fingerprint.ts';

const KINDS: readonly N8nKind[] = ['credentials', 'workflows'];
export const artifactOf = (kind: N8nKind): string => `${kind}.json`;

async function* drain(data: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  yield* data;
}

export class N8nSource implements Source {
  readonly name: string;
  readonly type = 'n8n';
  readonly #config: N8nConfig;
  readonly #deps: SourceDeps;

  constructor(name: string, config: N8nConfig, deps: SourceDeps) {
    this.name = name;
    this.#config = config;
    this.#deps = deps;
  }

  get #what(): string {
    return `n8n source ${this.name}`;
  }

  /** The CLI for the live instance, or for a drill's user folder `to` (its own SQLite). */
  async #cli(ctx: SourceContext, to?: string): Promise<N8nCli> {
    const c = this.#config;
    const env: Record<string, string> = { ...c.env };
    const secrets: string[] = [];
    for (const [k, ref] of Object.entries(c.secret_env ?? {})) {
      env[k] = await this.#deps.secrets(ref, `${k} of ${this.#what}`);
      secrets.push(env[k]);
    }
    if (c.encryption_key !== undefined) {
      env.N8N_ENCRYPTION_KEY = await this.#deps.secrets(c.encryption_key, `encryption_key of ${this.#what}`);
      secrets.push(env.N8N_ENCRYPTION_KEY);
    }
    if (c.user_folder !== undefined) env.N8N_USER_FOLDER = c.user_folder;
    if (to !== undefined) {
      for (const k of Object.keys(env)) if (k.startsWith('DB_')) delete env[k];
      Object.assign(env, { N8N_USER_FOLDER: to, DB_TYPE: 'sqlite' });
    }
    return new N8nCli({ runner: this.#deps.runner, bin: c.n8n_bin ?? 'n8n', env, secrets, what: this.#what, signal: ctx.signal });
  }

  async #workDir(): Promise<string> {
    await mkdir(this.#deps.tmpDir, { recursive: true, mode: 0o700 });
    return mkdtemp(path.join(this.#deps.tmpDir, 'n8n-'));
  }

  async #exports(cli: N8nCli, dir: string): Promise<{ workflows: N8nWorkflow[]; credentials: N8nCredential[] }> {
    const out: Record<string, unknown[]> = {};
    for (const kind of KINDS) {
      const file = path.join(dir, artifactOf(kind));
      if ((await cli.exportTo(kind, file)) === 'empty') {
        out[kind] = [];
        continue;
      }
      const parsed: unknown = JSON.parse(await readFile(file, 'utf8'));
      const problem = exportProblem(kind, parsed);
      if (problem !== undefined) throw new SourceError(`${this.#what}: the ${kind} export ${problem}`, { hint: 'check the n8n version and that n8n_bin is n8n\'s CLI' });
      out[kind] = parsed as unknown[];
    }
    return out as unknown as { workflows: N8nWorkflow[]; credentials: N8nCredential[] };
  }

  async backup(sink: ArtifactSink, ctx: SourceContext): Promise<BackupOutcome> {
    const cli = await this.#cli(ctx);
    const dir = await this.#workDir();
    try {
      const data = await this.#exports(cli, dir);
      for (const kind of KINDS) {
        const file = path.join(dir, artifactOf(kind));
        const body = data[kind].length === 0 ? (async function* () { yield Buffer.from('[]\n'); })() : drain(createReadStream(file));
        await sink.put(artifactOf(kind), body);
      }
      if (this.#config.encryption_key === undefined && data.credentials.length > 0) {
        ctx.log.warn(`${this.#what}: ${data.credentials.length} credentials are stored encrypted with the instance's encryption key, which is not in this backup; keep N8N_ENCRYPTION_KEY (or ${this.#config.user_folder ?? '~'}/.n8n/config) safe elsewhere, or set encryption_key, or they cannot be decrypted after a restore`);
      }
      ctx.log.info(`${this.#what}: ${data.workflows.length} workflows, ${data.credentials.length} credentials`);
      return { fingerprint: { ...fingerprintN8n(data.workflows, data.credentials) }, commands: [...cli.commands] };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  async restore(reader: ArtifactReader, ctx: SourceContext, opts: RestoreOptions = {}): Promise<void> {
    const names = new Set(reader.list().map((a) => a.name));
    const missing = KINDS.filter((k) => !names.has(artifactOf(k)));
    if (missing.length > 0) throw new SourceError(`${this.#what}: the snapshot has no ${missing.map(artifactOf).join(', ')}`, { hint: 'pick a snapshot made by an n8n source' });
    const cli = await this.#cli(ctx, opts.to);
    const dir = await this.#workDir();
    try {
      const stored: Record<string, Array<{ id: string; active?: boolean }>> = {};
      for (const kind of KINDS) {
        const file = path.join(dir, artifactOf(kind));
        await pipeline(drain(reader.open(artifactOf(kind))), createWriteStream(file, { mode: 0o600 }), { signal: ctx.signal });
        stored[kind] = JSON.parse(await readFile(file, 'utf8')) as Array<{ id: string; active?: boolean }>;
        if (stored[kind].length > 0) await cli.importFrom(kind, file);
      }
      const active = stored.workflows.filter((w) => w.active === true).map((w) => w.id);
      if (active.length > 0) ctx.log.warn(`${this.#what}: n8n imports workflows inactive; these were active in the backup: ${active.join(', ')} (activate them in the editor)`);
      const live = await this.#exports(cli, dir);
      const extra = live.workflows.map((w) => String(w.id)).filter((id) => !stored.workflows.some((w) => String(w.id) === id));
      if (extra.length > 0) ctx.log.warn(`${this.#what}: workflows ${extra.join(', ')} are not in the backup and were left as they are (n8n's import deletes nothing)`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  async fingerprint(ctx: SourceContext, opts: RestoreOptions = {}): Promise<Fingerprint> {
    const cli = await this.#cli(ctx, opts.to);
    const dir = await this.#workDir();
    try {
      const data = await this.#exports(cli, dir);
      return { ...fingerprintN8n(data.workflows, data.credentials) };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** Both files parse as n8n exports, credentials still encrypted; no n8n needed. */
  async verify(reader: ArtifactReader): Promise<VerifyResult> {
    const checks: string[] = [];
    const problems: string[] = [];
    const names = new Set(reader.list().map((a) => a.name));
    for (const kind of KINDS) {
      const name = artifactOf(kind);
      if (!names.has(name)) {
        problems.push(`${name}: missing from the snapshot`);
        continue;
      }
      try {
        const parts: Buffer[] = [];
        for await (const c of reader.open(name)) parts.push(Buffer.from(c));
        const parsed: unknown = JSON.parse(Buffer.concat(parts).toString('utf8'));
        const problem = exportProblem(kind, parsed);
        if (problem !== undefined) problems.push(`${name}: ${problem}`);
        else checks.push(`${name}: ${(parsed as unknown[]).length} ${kind}${kind === 'credentials' ? ', encrypted' : ''}`);
      } catch (err) {
        problems.push(`${name}: cannot be read as JSON: ${errorMessage(err)}`);
      }
    }
    return { checks, problems };
  }

  /** A new user folder with its own SQLite database; the CLI creates it on first use. */
  async scratchTarget(): Promise<ScratchTarget> {
    const dir = await this.#workDir();
    return { to: dir, description: `n8n user folder ${dir} (SQLite)`, cleanup: () => rm(dir, { recursive: true, force: true }) };
  }
}

export const n8nType = {
  type: 'n8n',
  description: 'n8n: workflows and credentials (encrypted) through its CLI export; restore by import',
  keys: n8nKeys,
  pathKeys: ['program:n8n_bin'],
  create: (name, config, deps): Source => new N8nSource(name, config, deps),
} satisfies SourceType<N8nConfig>;
