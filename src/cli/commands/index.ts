/**
 * The commands of the CLI, in the order --help lists them, loaded on demand.
 *
 * Each command module pulls in what its action needs (the archiver, the stack runner, the
 * source adapters and their schemas, …), so importing all of them costs every invocation
 * several hundred milliseconds of module loading. `loadCommands` imports only the modules
 * asked for; main.ts asks for the one command on the command line, or for all of them when
 * commander needs the whole list (help, an unknown or missing command).
 */
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';

export type RegisterCommand = (program: Command, ctx: CliContext) => void;

/** Top-level command name → loader of its register function, in --help order. */
const loaders: ReadonlyArray<readonly [name: string, load: () => Promise<RegisterCommand>]> = [
  ['demo', async () => (await import('./demo.ts')).registerDemo],
  ['init', async () => (await import('./init.ts')).registerInit],
  ['backup', async () => (await import('./backup.ts')).registerBackup],
  ['snapshots', async () => (await import('./snapshots.ts')).registerSnapshots],
  ['ls', async () => (await import('./ls.ts')).registerLs],
  ['restore', async () => (await import('./restore.ts')).registerRestore],
  ['dump', async () => (await import('./dump.ts')).registerDump],
  ['verify', async () => (await import('./verify.ts')).registerVerify],
  ['drill', async () => (await import('./drill.ts')).registerDrill],
  ['report', async () => (await import('./report.ts')).registerReport],
  ['check', async () => (await import('./check.ts')).registerCheck],
  ['forget', async () => (await import('./forget.ts')).registerForget],
  ['prune', async () => (await import('./prune.ts')).registerPrune],
  ['copy', async () => (await import('./copy.ts')).registerCopy],
  ['diff', async () => (await import('./diff.ts')).registerDiff],
  ['find', async () => (await import('./find.ts')).registerFind],
  ['tag', async () => (await import('./tag.ts')).registerTag],
  ['rewrite', async () => (await import('./rewrite.ts')).registerRewrite],
  ['repair', async () => (await import('./repair.ts')).registerRepair],
  ['rebuild-index', async () => (await import('./repair.ts')).registerRebuildIndex],
  ['recover', async () => (await import('./recover.ts')).registerRecover],
  ['stats', async () => (await import('./stats.ts')).registerStats],
  ['key', async () => (await import('./key.ts')).registerKey],
  ['unlock', async () => (await import('./unlock.ts')).registerUnlock],
  ['cat', async () => (await import('./cat.ts')).registerCat],
  ['list', async () => (await import('./list.ts')).registerList],
  ['config', async () => (await import('./config.ts')).registerConfig],
  ['daemon', async () => (await import('./daemon.ts')).registerDaemon],
  ['notify', async () => (await import('./notify.ts')).registerNotify],
  ['metrics', async () => (await import('./metrics.ts')).registerMetrics],
];

/** Names of the top-level commands, in --help order. */
export const commandNames: readonly string[] = loaders.map(([name]) => name);

/**
 * The register functions of the named commands (every command when `only` is undefined),
 * in --help order.
 */
export async function loadCommands(only?: readonly string[]): Promise<RegisterCommand[]> {
  const chosen = only === undefined ? loaders : loaders.filter(([name]) => only.includes(name));
  return Promise.all(chosen.map(([, load]) => load()));
}
