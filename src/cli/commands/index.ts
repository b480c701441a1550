/** The commands of the CLI, in the order --help lists them. */
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { registerInit } from './init.ts';
import { registerBackup } from './backup.ts';
import { registerSnapshots } from './snapshots.ts';
import { registerLs } from './ls.ts';
import { registerRestore } from './restore.ts';
import { registerDump } from './dump.ts';
import { registerCat } from './cat.ts';
import { registerKey } from './key.ts';
import { registerUnlock } from './unlock.ts';
import { registerStats } from './stats.ts';
import { registerDemo } from './demo.ts';
import { registerCheck } from './check.ts';
import { registerConfig } from './config.ts';
import { registerVerify } from './verify.ts';
import { registerDrill } from './drill.ts';
import { registerReport } from './report.ts';
import { registerForget } from './forget.ts';
import { registerPrune } from './prune.ts';
import { registerCopy } from './copy.ts';

export type RegisterCommand = (program: Command, ctx: CliContext) => void;

export const commands: RegisterCommand[] = [
  registerDemo,
  registerInit,
  registerBackup,
  registerSnapshots,
  registerLs,
  registerRestore,
  registerDump,
  registerVerify,
  registerDrill,
  registerReport,
  registerCheck,
  registerForget,
  registerPrune,
  registerCopy,
  registerStats,
  registerKey,
  registerUnlock,
  registerCat,
  registerConfig,
];
