/**
 * Stack operations from lifeboat.yml: the composition root that turns the config into
 * sources, a repository and the deps of ops/backup-run and ops/restore-run, and keeps run
 * reports in the state directory.
 */
import path from 'node:path';
import { ConfigError, NotFoundError, UsageError } from '../core/errors.ts';
import type { Source, SourceContext } from '../core/source.ts';
import { findConfigFile, loadConfig } from '../config/loader.ts';
import type { LoadedConfig } from '../config/loader.ts';
import type { SourceConfig } from '../config/schema.ts';
import { createSecretResolver } from '../config/secrets.ts';
import { sourceTypes } from '../sources/registry.ts';
import { openRunTmpDir } from '../sources/source-kit.ts';
import type { SecretResolver } from '../sources/source-kit.ts';
import { runnerFor, withStoppedContainers } from './transports.ts';
import { runBackup } from '../ops/backup-run.ts';
import type { PlannedSource } from '../ops/backup-run.ts';
import { runRestore } from '../ops/restore-run.ts';
import type { PlannedRestore } from '../ops/restore-run.ts';
import { overallStatus } from '../ops/run-report.ts';
import type { RunReport, SourceRunResult } from '../ops/run-report.ts';
import { listSnapshots } from '../repo/snapshot/snapshot.ts';
import type { Snapshot } from '../repo/snapshot/snapshot.ts';
import { SnapshotReader, SnapshotWriter } from './artifact-store.ts';
import { runHooks } from './hooks.ts';
import { reportEnvelope, saveRunReport } from './reports.ts';
import { addCopiesToReport, syncCopies } from './copies.ts';
import { openRepositoryAt } from './open-repository.ts';
import type { OpenedRepository } from './open-repository.ts';

export interface StackOptions {
  configFile?: string;
  env: NodeJS.ProcessEnv;
  signal: AbortSignal;
  /** Repository location overriding the config's (with its own password). */
  repoOverride?: { location: string; password: string };
  log: { info(msg: string): void; warn(msg: string): void };
  /** Keep trying this long for a lock another process holds (`--retry-lock`). */
  retryLockMs?: number;
}

export interface Stack {
  readonly loaded: LoadedConfig;
  readonly secrets: SecretResolver;
  readonly sources: ReadonlyMap<string, { source: Source; config: SourceConfig }>;
  openRepository(lock: 'shared' | 'exclusive'): Promise<OpenedRepository>;
  repositoryLocation(): string;
}

export async function openStack(opts: StackOptions): Promise<Stack> {
  const file = findConfigFile(opts.configFile, opts.env);
  const loaded = await loadConfig(file, { env: opts.env });
  const baseDir = path.dirname(loaded.file);
  const secrets = createSecretResolver({ env: opts.env, baseDir, onWarning: (m) => opts.log.warn(m) });
  const tmpDir = await openRunTmpDir(path.join(loaded.stateDir, 'tmp'));
  const sources = new Map<string, { source: Source; config: SourceConfig }>();
  for (const { name, config } of loaded.sources) {
    const type = sourceTypes.get(config.type);
    if (!type) throw new ConfigError(`source ${name}: unknown type ${config.type}`);
    const source = type.create(name, config as never, { runner: runnerFor(name, config, opts.env, loaded.file), secrets, tmpDir });
    sources.set(name, { source: withStoppedContainers(source, config, opts.env), config });
  }
  const location = (): string => opts.repoOverride?.location ?? loaded.config.repository.url;
  return {
    loaded,
    secrets,
    sources,
    repositoryLocation: location,
    async openRepository(lock) {
      const password = opts.repoOverride?.password ?? (await secrets(loaded.config.repository.password, 'repository.password'));
      return openRepositoryAt(location(), password, { lock, signal: opts.signal, env: opts.env, retryLockMs: opts.retryLockMs, onLockWait: opts.log.warn });
    },
  };
}

export function selectSources(stack: Stack, only?: readonly string[]): string[] {
  const names = [...stack.sources.keys()];
  if (!only || only.length === 0) return names;
  for (const n of only) {
    if (!stack.sources.has(n)) throw new UsageError(`no source named "${n}" in ${stack.loaded.file}`, { hint: `known sources: ${names.join(', ')}` });
  }
  return names.filter((n) => only.includes(n));
}

/** A source's context: the run's signal, and log lines prefixed with the source's name. */
export function contextFor(source: Source, opts: StackOptions): SourceContext {
  return {
    signal: opts.signal,
    log: { info: (m) => opts.log.info(`${source.name}: ${m}`), warn: (m) => opts.log.warn(`${source.name}: ${m}`) },
  };
}

/** Saves a run's report; one that cannot be written is a warning, not a failed run. */
export async function saveReport(stateDir: string, report: RunReport, warn: (message: string) => void): Promise<string | undefined> {
  return saveRunReport(stateDir, report.kind, report.started_at, report, warn);
}

function report(kind: RunReport['kind'], started: Date, repository: string, sources: SourceRunResult[], interrupted: boolean): RunReport {
  return { ...reportEnvelope(kind, started, repository), status: overallStatus(sources, interrupted), sources, ...(interrupted ? { interrupted } : {}) };
}

/** The tag of the snapshot a restore takes of the live data it is about to replace. */
export const PRE_RESTORE_TAG = 'pre-restore';

/** Backs up one source into a stack snapshot; resolves when the snapshot is written. */
async function backupInto(stack: Stack, opened: OpenedRepository, source: Source, opts: StackOptions, extraTags: string[] = []): Promise<string> {
  const w = new SnapshotWriter(opened.repo, { name: source.name, type: source.type }, opts.signal);
  const tags = [...(stack.sources.get(source.name)?.config.tags ?? []), ...extraTags];
  const outcome = await source.backup(w, contextFor(source, opts));
  return (await w.commit(outcome, { tags })).snapshotId;
}

export async function backupStack(stack: Stack, opts: StackOptions & { only?: string[]; onSourceDone?: (r: SourceRunResult) => void }): Promise<RunReport> {
  const started = new Date();
  const names = selectSources(stack, opts.only);
  const opened = await stack.openRepository('shared');
  try {
    const plan: PlannedSource[] = names.map((n) => {
      const s = stack.sources.get(n) as { source: Source; config: SourceConfig };
      return { source: s.source, hooks: s.config.backup?.hooks };
    });
    const results = await runBackup(
      plan,
      {
        openSession: (source) => {
          const w = new SnapshotWriter(opened.repo, { name: source.name, type: source.type }, opts.signal);
          const tags = stack.sources.get(source.name)?.config.tags;
          return { sink: w, commit: (outcome) => w.commit(outcome, { tags }) };
        },
        runHooks: (cmds, what, signal) => runHooks(cmds, what, signal, opts.log.info, path.dirname(stack.loaded.file)),
        context: (source) => contextFor(source, opts),
        now: () => Date.now(),
      },
      { concurrency: stack.loaded.config.concurrency, signal: opts.signal, onSourceDone: opts.onSourceDone },
    );
    const r = report('backup', started, opened.repo.location, results, opts.signal.aborted);
    await saveReport(stack.loaded.stateDir, r, opts.log.warn);
    // Offsite copies after the report is safe; the report is then rewritten with their results.
    if (stack.loaded.config.copies?.length && !opts.signal.aborted) await saveReport(stack.loaded.stateDir, addCopiesToReport(r, await syncCopies(stack, opened, { ...opts, sources: names })), opts.log.warn);
    return r;
  } finally {
    await opened.close();
  }
}

export interface RestoreRequest {
  only?: string[];
  snapshot?: string;
  at?: Date;
  to?: string;
  /** Skip the pre-restore safety snapshot of in-place restores (`--no-safety-snapshot`). */
  noSafetySnapshot?: boolean;
  /** Only snapshots of these hosts (any of them); empty or absent: any host, as restic. */
  hosts?: readonly string[];
}

/**
 * Latest snapshot per source (or the given one / the latest at a time / of the given hosts).
 * Like restic, no host is preferred by default: on a shared repository the caller shows each
 * snapshot's host so a restore from another machine's backup is never silent. Safety
 * snapshots (tag `pre-restore`) hold what a restore replaced: they are chosen only by ID,
 * never as "latest", or undoing a restore would be what the next restore or drill picks.
 */
export function chooseSnapshots(stack: Stack, all: readonly Snapshot[], names: readonly string[], req: RestoreRequest): Map<string, Snapshot> {
  const chosen = new Map<string, Snapshot>();
  if (req.snapshot && req.snapshot !== 'latest') {
    const matches = all.filter((s) => s.id.startsWith(req.snapshot as string));
    if (matches.length !== 1) throw new NotFoundError(matches.length === 0 ? `no snapshot with ID ${req.snapshot}` : `snapshot ID ${req.snapshot} is ambiguous`);
    const snap = matches[0] as Snapshot;
    const tag = (snap.tags ?? []).find((t) => t.startsWith('source:'));
    const src = tag?.slice('source:'.length);
    if (!src || !names.includes(src)) throw new UsageError(`snapshot ${req.snapshot} is not a snapshot of ${names.join(', ')}`, { hint: 'use --only with the snapshot\'s source' });
    chosen.set(src, snap);
    return chosen;
  }
  for (const n of names) {
    const mine = all.filter((s) => (s.tags ?? []).includes(`source:${n}`)
      && !(s.tags ?? []).includes(PRE_RESTORE_TAG)
      && (!req.at || s.date.getTime() <= (req.at as Date).getTime())
      && (!req.hosts?.length || req.hosts.includes(s.hostname ?? '')));
    const last = mine.at(-1);
    if (last) chosen.set(n, last);
  }
  return chosen;
}

export interface RestorePlan {
  items: PlannedRestore[];
  missing: string[];
  /** The chosen snapshots by ID, so the restore need not list the repository again. */
  snapshots: ReadonlyMap<string, Snapshot>;
}

export async function planStackRestore(stack: Stack, opened: OpenedRepository, req: RestoreRequest): Promise<RestorePlan> {
  const names = selectSources(stack, req.only);
  if (req.to && names.length !== 1) throw new UsageError('--to needs exactly one source', { hint: 'add --only NAME' });
  const all = await listSnapshots(opened.repo, { onError: () => undefined });
  const chosen = chooseSnapshots(stack, all, names, req);
  const items: PlannedRestore[] = [];
  const missing: string[] = [];
  for (const n of names) {
    const snap = chosen.get(n);
    if (!snap) {
      if (!req.snapshot) missing.push(n);
      continue;
    }
    const s = stack.sources.get(n) as { source: Source; config: SourceConfig };
    const to = req.to ?? s.config.restore?.to;
    items.push({ source: s.source, snapshotId: snap.id, dependsOn: s.config.depends_on ?? [], hooks: s.config.restore?.hooks, to, safetySnapshot: !to && !req.noSafetySnapshot });
  }
  return { items, missing, snapshots: new Map([...chosen.values()].map((snap) => [snap.id, snap])) };
}

export async function restoreStack(stack: Stack, opened: OpenedRepository, plan: RestorePlan, opts: StackOptions & { onSourceDone?: (r: SourceRunResult) => void }): Promise<RunReport> {
  const started = new Date();
  const results = await runRestore(
    plan.items,
    {
      openReader: async (p) => {
        const snap = plan.snapshots.get(p.snapshotId);
        if (!snap) throw new NotFoundError(`snapshot ${p.snapshotId} is not in the restore plan`);
        const reader = await SnapshotReader.open(opened.repo, snap, p.source.name, opts.signal);
        return { reader, fingerprint: reader.manifest.fingerprint as Record<string, unknown> };
      },
      runHooks: (cmds, what, signal) => runHooks(cmds, what, signal, opts.log.info, path.dirname(stack.loaded.file)),
      takeSafetySnapshot: async (p) => {
        opts.log.info(`${p.source.name}: safety snapshot of the live data before the restore`);
        return backupInto(stack, opened, p.source, opts, [PRE_RESTORE_TAG]);
      },
      context: (source) => contextFor(source, opts),
      now: () => Date.now(),
    },
    { signal: opts.signal, onSourceDone: opts.onSourceDone },
  );
  const r = report('restore', started, opened.repo.location, results, opts.signal.aborted);
  await saveReport(stack.loaded.stateDir, r, opts.log.warn);
  return r;
}
