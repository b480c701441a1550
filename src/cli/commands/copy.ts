/**
 * `lifeboat copy --to LOCATION [--only a,b] [--host H] [--tag T] [--init-to] [SNAPSHOT-ID…]`:
 * restic's copy. The source is the usual repository (-r/--from, LIFEBOAT_REPOSITORY or
 * lifeboat.yml); the target's password comes from --to-password-file, LIFEBOAT_TO_PASSWORD_FILE,
 * LIFEBOAT_TO_PASSWORD_COMMAND or LIFEBOAT_TO_PASSWORD, never from argv. Without --to, the
 * `copies:` of lifeboat.yml are brought up to date. Both repositories get a shared lock.
 *
 * restic's own form works as in restic: `lifeboat -r DEST copy --from-repo SRC`: -r (with the
 * usual password) is the destination, the source's password comes from --from-password-file,
 * --from-password-command or LIFEBOAT_FROM_PASSWORD[_FILE|_COMMAND] (RESTIC_FROM_* too).
 */
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { LifeboatError, UsageError } from '../../core/errors.ts';
import { copyToRepository, displayLocation, snapshotsOfSources, syncCopies } from '../../app/copies.ts';
import { openRepository, openRepositoryAt } from '../../app/open-repository.ts';
import type { OpenedRepository } from '../../app/open-repository.ts';
import { resolvePassword } from '../../app/password.ts';
import { openStack, selectSources } from '../../app/stack.ts';
import type { Stack } from '../../app/stack.ts';
import { listSnapshots, matchesFilter } from '../../repo/snapshot/snapshot.ts';
import type { Snapshot } from '../../repo/snapshot/snapshot.ts';
import { formatBytes, formatDuration } from '../output.ts';
import { collect, tagGroups } from './common.ts';
import { lockWait } from '../repo-access.ts';
import { formatLocal } from '../../util/time.ts';

interface CopyFlags {
  to?: string;
  fromRepo?: string;
  fromPasswordCommand?: string;
  from?: string;
  fromPasswordFile?: string;
  toPasswordFile?: string;
  only?: string;
  host: string[];
  tag: string[];
  initTo?: boolean;
}

/** The target password, from the target's own sources (restic's --password-file2 and friends). */
export async function resolveTargetPassword(flags: { toPasswordFile?: string }, env: NodeJS.ProcessEnv): Promise<string> {
  const given = flags.toPasswordFile ?? env.LIFEBOAT_TO_PASSWORD_FILE ?? env.LIFEBOAT_TO_PASSWORD_COMMAND ?? env.LIFEBOAT_TO_PASSWORD;
  if (given === undefined || given === '') {
    throw new UsageError('no password for the copy target given', {
      hint: 'use --to-password-file FILE, or set LIFEBOAT_TO_PASSWORD_FILE, LIFEBOAT_TO_PASSWORD_COMMAND or LIFEBOAT_TO_PASSWORD',
    });
  }
  // The same precedence and checks as the source password, over the target's variables.
  return resolvePassword({
    passwordFile: flags.toPasswordFile,
    env: { LIFEBOAT_PASSWORD_FILE: env.LIFEBOAT_TO_PASSWORD_FILE, LIFEBOAT_PASSWORD_COMMAND: env.LIFEBOAT_TO_PASSWORD_COMMAND, LIFEBOAT_PASSWORD: env.LIFEBOAT_TO_PASSWORD },
  });
}

function loadStack(ctx: CliContext): Promise<Stack> {
  return openStack({ configFile: ctx.globals().config, env: ctx.env, signal: ctx.signal, log: { info: (m) => ctx.out.progress(m), warn: (m) => ctx.out.warn(m) } });
}

function hasConfig(ctx: CliContext): boolean {
  return Boolean(ctx.globals().config || ctx.env.LIFEBOAT_CONFIG || existsSync('lifeboat.yml'));
}

/** The source repository, shared-locked: --from/-r, LIFEBOAT_REPOSITORY, else lifeboat.yml's. */
async function openSource(ctx: CliContext, flags: CopyFlags, stack: Stack | undefined): Promise<OpenedRepository> {
  const g = ctx.globals();
  if (flags.from && g.repo && flags.from !== g.repo) throw new UsageError('--from and -r name different repositories', { hint: 'give the source once' });
  const location = flags.from ?? g.repo ?? ctx.env.LIFEBOAT_REPOSITORY;
  const opts = { ...lockWait(ctx), lock: 'shared' as const, signal: ctx.signal, env: ctx.env };
  if (location || !stack) {
    return openRepository({ repo: location, passwordFile: flags.fromPasswordFile ?? g.passwordFile, passwordCommand: g.passwordCommand, env: ctx.env }, opts);
  }
  const password = await stack.secrets(stack.loaded.config.repository.password, 'repository.password');
  return openRepositoryAt(stack.repositoryLocation(), password, opts);
}

function pickSnapshots(all: readonly Snapshot[], ids: readonly string[], flags: CopyFlags, only: readonly string[] | undefined): Snapshot[] {
  let chosen: Snapshot[];
  if (ids.length > 0) {
    chosen = ids.map((ref) => {
      const matches = ref === 'latest' ? all.slice(-1) : all.filter((s) => s.id.startsWith(ref));
      if (matches.length === 0) throw new UsageError(`no snapshot with ID ${ref} in the source repository`, { hint: 'run "lifeboat snapshots" to list them' });
      if (matches.length > 1) throw new UsageError(`snapshot ID prefix ${ref} is ambiguous (${matches.length} matches)`, { hint: 'give more characters of the ID' });
      return matches[0] as Snapshot;
    });
    chosen = [...new Map(chosen.map((s) => [s.id, s])).values()].sort((a, b) => a.date.getTime() - b.date.getTime());
  } else {
    chosen = [...all];
  }
  if (only) chosen = snapshotsOfSources(chosen, only);
  return chosen.filter((s) => matchesFilter(s, { hosts: flags.host, tags: tagGroups(flags.tag) }));
}

export function registerCopy(program: Command, ctx: CliContext): void {
  program
    .command('copy')
    .description('copy snapshots to another repository (without --to: to the copies: of lifeboat.yml)')
    .argument('[ids...]', 'snapshots to copy (default: all, after the filters)')
    .option('--to <location>', 'target repository (password: --to-password-file or env LIFEBOAT_TO_PASSWORD[_FILE|_COMMAND])')
    .option('--to-password-file <file>', 'read the target repository password from a file')
    .option('--from <location>', 'source repository (same as -r)')
    .option('--from-repo <location>', 'source repository, as restic: then -r is the destination (env LIFEBOAT_FROM_REPOSITORY, RESTIC_FROM_REPOSITORY)')
    .option('--from-password-file <file>', 'read the source repository password from a file')
    .option('--from-password-command <cmd>', 'with --from-repo: a command that prints the source password')
    .option('--only <sources>', 'copy only snapshots of these stack sources (comma separated)')
    .option('--host <host>', 'only snapshots of this host (repeatable)', collect, [])
    .option('--tag <tags>', 'only snapshots with these tags (a,b = both; repeat for either)', collect, [])
    .option('--init-to', 'create the target repository (with the source\'s chunker parameters) if it does not exist')
    .action(async (ids: string[], flags: CopyFlags) => {
      const fromRepo = flags.fromRepo ?? (flags.to ? undefined : (ctx.env.LIFEBOAT_FROM_REPOSITORY ?? ctx.env.RESTIC_FROM_REPOSITORY));
      if (fromRepo) return copyFromRepo(ctx, fromRepo, ids, flags);
      const only = flags.only ? flags.only.split(',').map((s) => s.trim()).filter(Boolean) : undefined;
      const explicitSource = Boolean(flags.from || ctx.globals().repo || ctx.env.LIFEBOAT_REPOSITORY);
      // lifeboat.yml is needed for its repository (then --only names are checked) or its copies:.
      const stack = hasConfig(ctx) && (!explicitSource || !flags.to) ? await loadStack(ctx) : undefined;
      if (stack && only) selectSources(stack, only);
      if (!flags.to) {
        if (!stack || (stack.loaded.config.copies ?? []).length === 0) {
          throw new UsageError('no copy target given', { hint: 'use --to LOCATION, or list copies: in lifeboat.yml' });
        }
        if (ids.length > 0 || flags.initTo) throw new UsageError('snapshot IDs and --init-to need --to');
        return syncConfigured(ctx, stack, only);
      }
      const password = await resolveTargetPassword(flags, ctx.env);
      const opened = await openSource(ctx, flags, stack);
      try {
        const all = await listSnapshots(opened.repo, { signal: ctx.signal, onError: (id, err) => ctx.out.warn(`snapshot ${id.slice(0, 8)} cannot be read: ${(err as Error).message}`) });
        const chosen = pickSnapshots(all, ids, flags, only);
        const rows: Array<{ snap: Snapshot; target: string; copied: boolean }> = [];
        const byId = new Map(chosen.map((s) => [s.id, s]));
        const r = await copyToRepository(opened.repo, { location: flags.to, password }, chosen, {
          ...lockWait(ctx),
          signal: ctx.signal,
          env: ctx.env,
          init: flags.initTo === true,
          onProgress: (p) => ctx.out.progress(`snapshot ${p.index + 1}/${p.total} ${p.snapshot.slice(0, 8)}: ${p.blobsCopied} blobs, ${formatBytes(p.bytesCopied)} copied`),
          onSnapshot: (e) => rows.push({ snap: byId.get(e.source) as Snapshot, target: e.target, copied: e.copied }),
        });
        ctx.out.clearProgress();
        ctx.out.result({
          message_type: 'copy',
          source: opened.repo.location,
          repository: r.repository,
          created: r.created,
          same_chunker: r.sameChunker,
          copied: r.copied.length,
          skipped: r.skipped.length,
          blobs_copied: r.blobsCopied,
          bytes_copied: r.bytesCopied,
          duration_ms: r.duration_ms,
          snapshots: rows.map((x) => ({ source: x.snap.id, target: x.target, status: x.copied ? 'copied' : 'skipped' })),
        });
        if (r.created) ctx.out.line(`created repository ${r.repository} with the source's chunker parameters`);
        if (!r.sameChunker) ctx.out.warn(`${r.repository} uses other chunker parameters than the source: backups written there directly will not deduplicate against the copies`);
        ctx.out.table(
          ['Snapshot', 'Copy', 'Status', 'Time', 'Host', 'Tags'],
          rows.map((x) => [x.snap.id.slice(0, 8), x.target.slice(0, 8), x.copied ? 'copied' : 'skipped', formatLocal(x.snap.date), x.snap.hostname ?? '', (x.snap.tags ?? []).join(',')]),
        );
        ctx.out.line(`${r.copied.length} snapshot(s) copied, ${r.skipped.length} already in ${r.repository}; ${r.blobsCopied} blobs, ${formatBytes(r.bytesCopied)} added in ${formatDuration(r.duration_ms)}`);
      } finally {
        await opened.close();
      }
    });
}

/** The source password of restic's form: its --from-* flags, then LIFEBOAT_FROM_*, then RESTIC_FROM_*. */
function fromPassword(flags: CopyFlags, env: NodeJS.ProcessEnv): Promise<string> {
  const pick = (k: string): string | undefined => env[`LIFEBOAT_FROM_${k}`] ?? env[`RESTIC_FROM_${k}`];
  const own = ['PASSWORD_FILE', 'PASSWORD_COMMAND', 'PASSWORD'].some((k) => env[`LIFEBOAT_FROM_${k}`]);
  const from = (k: string): string | undefined => (own ? env[`LIFEBOAT_FROM_${k}`] : pick(k));
  return resolvePassword({
    passwordFile: flags.fromPasswordFile,
    passwordCommand: flags.fromPasswordCommand,
    env: { LIFEBOAT_PASSWORD_FILE: from('PASSWORD_FILE'), LIFEBOAT_PASSWORD_COMMAND: from('PASSWORD_COMMAND'), LIFEBOAT_PASSWORD: from('PASSWORD') },
  }).catch((err: unknown) => {
    if (err instanceof UsageError) throw new UsageError('no password for the copy source given', { hint: 'use --from-password-file FILE or --from-password-command CMD, or set LIFEBOAT_FROM_PASSWORD_FILE or LIFEBOAT_FROM_PASSWORD', cause: err });
    throw err;
  });
}

/** restic's form: `-r DEST copy --from-repo SRC`. */
async function copyFromRepo(ctx: CliContext, fromRepo: string, ids: string[], flags: CopyFlags): Promise<void> {
  if (flags.to || flags.from) throw new UsageError('--from-repo (restic\'s form: -r is the destination) cannot be combined with --to or --from', { hint: 'use either "-r DEST copy --from-repo SRC" or "-r SRC copy --to DEST"' });
  const g = ctx.globals();
  const dest = g.repo ?? ctx.env.LIFEBOAT_REPOSITORY;
  if (!dest) throw new UsageError('no destination repository given', { hint: 'with --from-repo, -r/--repo (or LIFEBOAT_REPOSITORY) names the destination, as in restic' });
  const destPassword = await resolvePassword({ passwordFile: g.passwordFile, passwordCommand: g.passwordCommand, env: ctx.env });
  const opened = await openRepositoryAt(fromRepo, await fromPassword(flags, ctx.env), { ...lockWait(ctx), lock: 'shared', signal: ctx.signal, env: ctx.env });
  try {
    const all = await listSnapshots(opened.repo, { signal: ctx.signal, onError: (id, err) => ctx.out.warn(`snapshot ${id.slice(0, 8)} cannot be read: ${(err as Error).message}`) });
    const chosen = pickSnapshots(all, ids, flags, undefined);
    const r = await copyToRepository(opened.repo, { location: dest, password: destPassword }, chosen, {
      ...lockWait(ctx),
      signal: ctx.signal,
      env: ctx.env,
      init: flags.initTo === true,
      onProgress: (p) => ctx.out.progress(`snapshot ${p.index + 1}/${p.total} ${p.snapshot.slice(0, 8)}: ${p.blobsCopied} blobs, ${formatBytes(p.bytesCopied)} copied`),
    });
    ctx.out.clearProgress();
    ctx.out.result({ message_type: 'copy', source: opened.repo.location, repository: r.repository, created: r.created, copied: r.copied.length, skipped: r.skipped.length, blobs_copied: r.blobsCopied, bytes_copied: r.bytesCopied, duration_ms: r.duration_ms });
    ctx.out.line(`${r.copied.length} snapshot(s) copied from ${displayLocation(opened.repo.location)}, ${r.skipped.length} already in ${r.repository}; ${r.blobsCopied} blobs, ${formatBytes(r.bytesCopied)} added in ${formatDuration(r.duration_ms)}`);
  } finally {
    await opened.close();
  }
}

/** `lifeboat copy` without --to: every copies: target of lifeboat.yml. */
async function syncConfigured(ctx: CliContext, stack: Stack, only: readonly string[] | undefined): Promise<void> {
  const opened = await openSource(ctx, {} as CopyFlags, stack);
  try {
    const results = await syncCopies(stack, opened, {
      env: ctx.env,
      signal: ctx.signal,
      log: { info: (m) => ctx.out.progress(m), warn: (m) => ctx.out.warn(m) },
      sources: only ?? [...stack.sources.keys()],
      onProgress: (where, p) => ctx.out.progress(`${where}: snapshot ${p.index + 1}/${p.total}, ${p.blobsCopied} blobs, ${formatBytes(p.bytesCopied)} copied`),
    });
    ctx.out.clearProgress();
    ctx.out.result({ message_type: 'copy', source: opened.repo.location, copies: results });
    ctx.out.table(
      ['Repository', 'Status', 'Copied', 'Skipped', 'Added', 'Time', 'Error'],
      results.map((c) => [c.repository, c.status === 'ok' ? 'ok' : 'FAILED', c.copied, c.skipped, c.bytes_copied !== undefined ? formatBytes(c.bytes_copied) : '', formatDuration(c.duration_ms), c.error ?? '']),
    );
    const failed = results.filter((c) => c.status === 'failed');
    if (failed.length === results.length) {
      throw new LifeboatError('copy_failed', `copy failed for every target (${failed.map((f) => displayLocation(f.repository)).join(', ')})`, { hint: 'see the errors in the table above' });
    }
    if (failed.length > 0) ctx.setExitCode(3);
  } finally {
    await opened.close();
  }
}
