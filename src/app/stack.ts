/**
 * Stack operations from lifeboat.yml: the composition root that turns the config into
 * sources, a repository and the deps of ops/backup-run and ops/restore-run, and keeps run
 * reports in the state directory.
 */
import path from 'node:path';
import { NotFoundError, UsageError } from '../core/errors.ts';
import type { ArtifactReader, Source, SourceContext } from '../core/source.ts';
import { findConfigFile, loadConfig } from '../config/loader.ts';
import type { LoadedConfig } from '../config/loader.ts';
import type { SourceConfig } from '../config/schema.ts';
import { createSecretResolver } from '../config/secrets.ts';
import { createSource, openRunTmpDir } from '../sources/source-kit.ts';
import type { SecretResolver } from '../sources/source-kit.ts';
import { restoreDependencies, runnerFor, withStoppedContainers } from './transports.ts';
import { orderByDependencies } from './compose-order.ts';
import { runBackup } from '../ops/backup-run.ts';
import type { PlannedSource } from '../ops/backup-run.ts';
import { runRestore } from '../ops/restore-run.ts';
import { overallStatus } from '../ops/run-report.ts';
import type { RunReport, SourceProgress, SourceRunResult } from '../ops/run-report.ts';
import type { Snapshot } from '../repo/snapshot/snapshot.ts';
import type { SnapshotStore, StackSnapshotReader } from '../core/snapshot-store.ts';
import { createRepositorySnapshotStore } from '../repo/stack/repository-snapshot-store.ts';
import { PRE_RESTORE_TAG, toStackSnapshot } from '../repo/stack/tags.ts';
import { chooseSnapshots as choose } from '../ops/snapshot-choice.ts';
import { planRestore } from '../ops/restore-plan.ts';
import type { RestorePlan, RestoreRequest as PlanRequest } from '../ops/restore-plan.ts';
import { runHooks } from './hooks.ts';
import { loadLatestReport, reportEnvelope, saveRunReport } from './reports.ts';
import { addCopiesToReport, syncCopies } from './copies.ts';
import { openRepositoryAt } from './open-repository.ts';
import type { OpenedRepository } from './open-repository.ts';
import { nowDate, nowMs } from '../util/clock.ts';

export interface StackOptions {
  configFile?: string;
  env: NodeJS.ProcessEnv;
  signal: AbortSignal;
  /** Repository location overriding the config's (with its own password). */
  repoOverride?: { location: string; password: string };
  log: { info(msg: string): void; warn(msg: string): void };
  /** Keep trying this long for a lock another process holds (`--retry-lock`). */
  retryLockMs?: number;
  /** Called as each source's bytes move (often: the receiver throttles). */
  onSourceProgress?: (p: SourceProgress) => void;
}

export interface Stack {
  readonly loaded: LoadedConfig;
  readonly secrets: SecretResolver;
  readonly sources: ReadonlyMap<string, { source: Source; config: SourceConfig }>;
  /** The environment the stack was opened with (DOCKER_HOST for compose lookups). */
  readonly env: NodeJS.ProcessEnv;
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
    const source = createSource(name, config, { runner: runnerFor(name, config, opts.env, loaded.file), secrets, tmpDir });
    sources.set(name, { source: withStoppedContainers(source, config, opts.env), config });
  }
  const location = (): string => opts.repoOverride?.location ?? loaded.config.repository.url;
  return {
    loaded,
    secrets,
    sources,
    env: opts.env,
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
export { PRE_RESTORE_TAG };
export type { RestorePlan };

export interface RestoreRequest extends PlanRequest {
  /** The sources to restore (default all, in dependency order). */
  only?: string[];
}

// One store per opened repository, so a restore reads the snapshots its plan listed.
const stores = new WeakMap<OpenedRepository, SnapshotStore>();

/** The stack snapshots of an opened repository (the SnapshotStore port over it). */
export function snapshotStoreOf(opened: OpenedRepository): SnapshotStore {
  let store = stores.get(opened);
  if (!store) stores.set(opened, (store = createRepositorySnapshotStore(opened.repo)));
  return store;
}

/** Backs up one source into a stack snapshot; resolves when the snapshot is written. */
async function backupInto(stack: Stack, opened: OpenedRepository, source: Source, opts: StackOptions, isSafety = false): Promise<string> {
  const w = snapshotStoreOf(opened).openWriter({ name: source.name, type: source.type }, { signal: opts.signal });
  const outcome = await source.backup(w, contextFor(source, opts));
  return (await w.commit(outcome, { tags: stack.sources.get(source.name)?.config.tags, isSafety })).snapshotId;
}

export async function backupStack(stack: Stack, opts: StackOptions & { only?: string[]; onSourceDone?: (r: SourceRunResult) => void }): Promise<RunReport> {
  const started = nowDate();
  const names = selectSources(stack, opts.only);
  const opened = await stack.openRepository('shared');
  try {
    const plan: PlannedSource[] = names.map((n) => {
      const s = stack.sources.get(n) as { source: Source; config: SourceConfig };
      return { source: s.source, hooks: s.config.backup?.hooks };
    });
    const previous = opts.onSourceProgress ? await previousSizes(stack) : new Map<string, number>();
    const results = await runBackup(
      plan,
      {
        openSession: (source) => {
          const total = previous.get(source.name);
          const onProgress = opts.onSourceProgress && ((bytes: number, added: number) => opts.onSourceProgress?.({ source: source.name, phase: 'backup', bytes, bytes_added: added, total }));
          const w = snapshotStoreOf(opened).openWriter({ name: source.name, type: source.type }, { signal: opts.signal, onProgress });
          const tags = stack.sources.get(source.name)?.config.tags;
          return { sink: w, commit: (outcome) => w.commit(outcome, { tags }) };
        },
        runHooks: (cmds, what, signal) => runHooks(cmds, what, signal, opts.log.info, path.dirname(stack.loaded.file)),
        context: (source) => contextFor(source, opts),
        now: () => nowMs(),
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

/**
 * Latest snapshot per source (or the given one / the latest at a time / of the given hosts);
 * the rules are ops/snapshot-choice's.
 */
export function chooseSnapshots(_stack: Stack, all: readonly Snapshot[], names: readonly string[], req: RestoreRequest): Map<string, Snapshot> {
  const byId = new Map(all.map((s) => [s.id, s]));
  const chosen = choose(all.map(toStackSnapshot).filter((s) => s !== undefined), names, req);
  return new Map([...chosen].map(([n, s]) => [n, byId.get(s.id) as Snapshot]));
}

export async function planStackRestore(stack: Stack, opened: OpenedRepository, req: RestoreRequest): Promise<RestorePlan> {
  const deps = await restoreDependencies(stack);
  const candidates = orderByDependencies(selectSources(stack, req.only), deps).map((n) => {
    const s = stack.sources.get(n) as { source: Source; config: SourceConfig };
    return { source: s.source, dependsOn: deps.get(n) ?? [], hooks: s.config.restore?.hooks, to: s.config.restore?.to };
  });
  return planRestore(snapshotStoreOf(opened), candidates, req);
}

export async function restoreStack(stack: Stack, opened: OpenedRepository, plan: RestorePlan, opts: StackOptions & { onSourceDone?: (r: SourceRunResult) => void }): Promise<RunReport> {
  const started = nowDate();
  const results = await runRestore(
    plan.items,
    {
      openReader: async (p) => {
        const snap = plan.snapshots.get(p.snapshotId);
        if (!snap) throw new NotFoundError(`snapshot ${p.snapshotId} is not in the restore plan`);
        const reader = await snapshotStoreOf(opened).openReader(snap, { signal: opts.signal });
        return { reader: opts.onSourceProgress ? countingReader(reader, p.source.name, opts.onSourceProgress) : reader, fingerprint: reader.manifest.fingerprint as Record<string, unknown> };
      },
      runHooks: (cmds, what, signal) => runHooks(cmds, what, signal, opts.log.info, path.dirname(stack.loaded.file)),
      takeSafetySnapshot: async (p) => {
        opts.log.info(`${p.source.name}: safety snapshot of the live data before the restore`);
        return backupInto(stack, opened, p.source, opts, true);
      },
      context: (source) => contextFor(source, opts),
      now: () => nowMs(),
    },
    { signal: opts.signal, concurrency: stack.loaded.config.concurrency, onSourceDone: opts.onSourceDone },
  );
  const r = report('restore', started, opened.repo.location, results, opts.signal.aborted);
  await saveReport(stack.loaded.stateDir, r, opts.log.warn);
  return r;
}

/** Each source's bytes read by the last backup (from its report): a backup's expected total, for an ETA. */
async function previousSizes(stack: Stack): Promise<Map<string, number>> {
  // No report yet, or an unreadable one: the progress simply has no ETA.
  const last = await loadLatestReport<RunReport>(stack.loaded.stateDir, 'backup').catch(() => undefined);
  return new Map((last?.sources ?? []).flatMap((s) => (s.status === 'ok' && s.bytes_read ? [[s.source, s.bytes_read] as const] : [])));
}

/** The reader a restore streams from, reporting the bytes handed to the source against the manifest's total. */
function countingReader(reader: StackSnapshotReader, source: string, onProgress: (p: SourceProgress) => void): ArtifactReader {
  const total = reader.manifest.artifacts.reduce((n, a) => n + a.size, 0) + (reader.manifest.files?.bytes ?? 0);
  let bytes = 0;
  const report = (): void => onProgress({ source, phase: 'restore', bytes, total });
  return {
    list: () => reader.list(),
    async *open(name) {
      for await (const chunk of reader.open(name)) {
        bytes += chunk.length;
        report();
        yield chunk;
      }
    },
    async restoreFiles(targetDir, opts) {
      const r = await (reader as ArtifactReader).restoreFiles(targetDir, opts);
      bytes += r.bytes;
      report();
      return r;
    },
  };
}
