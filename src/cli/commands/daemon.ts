/**
 * `lifeboat daemon [--listen HOST:PORT] [--metrics-textfile FILE]`: runs the schedules of
 * lifeboat.yml, the watchdog and the notifications, and serves the HTTP API and /metrics,
 * until SIGINT or SIGTERM; then running jobs are cancelled (their after-hooks run, their locks
 * are released) before it exits. Logs are timestamped lines, or JSON lines with --json.
 */
import { rename, writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { errorMessage } from '../../core/errors.ts';
import { stackOptions } from '../stack-access.ts';
import type { Stack, StackOptions } from '../../app/stack.ts';
import { nowDate } from '../../util/clock.ts';

interface DaemonFlags {
  listen?: string;
  metricsTextfile?: string;
}

export function registerDaemon(program: Command, ctx: CliContext): void {
  program
    .command('daemon')
    .description('run the schedules of lifeboat.yml, alert on failures and overdue sources, serve the API and /metrics')
    .option('--listen <host:port>', 'address of the HTTP API and /metrics (default daemon.listen, else 127.0.0.1:9876)')
    .option('--metrics-textfile <file>', 'also write the metrics to this file (node_exporter textfile collector), after each run and every 30s')
    .action(async (flags: DaemonFlags) => runDaemon(ctx, flags));
}

async function runDaemon(ctx: CliContext, flags: DaemonFlags): Promise<void> {
  const json = ctx.globals().json;
  const quiet = ctx.globals().quiet;
  const logLine = (level: 'info' | 'warn', message: string): void => {
    if (json) ctx.out.result({ time: nowDate().toISOString(), level, message });
    else if (level === 'warn') ctx.out.warn(`${nowDate().toISOString()} ${message}`);
    else if (!quiet) ctx.out.line(`${nowDate().toISOString()} ${message}`);
  };
  const log = { info: (m: string) => logLine('info', m), warn: (m: string) => logLine('warn', m) };
  const base = await stackOptions(ctx);
  const opts = { ...base, log };
  const { openStack } = await import('../../app/stack.ts');
  const stack = await openStack(opts);
  const { lockStateDir } = await import('../../daemon/daemon-lock.ts');
  const unlockStateDir = lockStateDir(stack.loaded.stateDir);
  try {
    await serve(ctx, flags, stack, opts, log);
  } finally {
    unlockStateDir();
  }
  log.info('stopped');
}

async function serve(ctx: CliContext, flags: DaemonFlags, stack: Stack, opts: StackOptions, log: StackOptions['log']): Promise<void> {
  const { Daemon } = await import('../../daemon/daemon.ts');
  const { startServer } = await import('../../server/http-server.ts');
  const { renderPrometheus } = await import('../../daemon/prometheus-text.ts');
  const d = stack.loaded.config.daemon;
  // Resolved before anything starts: a token that cannot be read is a start-up error, not an open API.
  const token = d?.token ? await stack.secrets(d.token, 'daemon.token') : undefined;
  const daemon = new Daemon({ stack, stackOptions: opts });
  let server: Awaited<ReturnType<typeof startServer>>;
  try {
    server = await startServer(daemon, { listen: flags.listen ?? d?.listen ?? '127.0.0.1:9876', token, log });
  } catch (err) {
    await daemon.stop();
    throw err;
  }
  const writeTextfile = async (): Promise<void> => {
    if (!flags.metricsTextfile) return;
    try {
      // Atomic, as the textfile collector reads whatever is there when it scrapes.
      await writeFile(`${flags.metricsTextfile}.tmp`, renderPrometheus(daemon.metrics()), { mode: 0o644 });
      await rename(`${flags.metricsTextfile}.tmp`, flags.metricsTextfile);
    } catch (err) {
      log.warn(`cannot write the metrics to ${flags.metricsTextfile}: ${errorMessage(err)}`);
    }
  };
  const textfileTimer = flags.metricsTextfile ? setInterval(() => void writeTextfile(), 30_000) : undefined;
  try {
    await daemon.start();
    await writeTextfile();
    const jobs = daemon.jobs();
    log.info(`lifeboat daemon: ${jobs.filter((j) => j.nextRun).length} scheduled job(s) of ${jobs.length}; API and metrics on ${server.url}; run catalog ${daemon.catalog.file}`);
    for (const j of jobs) if (j.nextRun) log.info(`  ${j.job.id}: next run ${j.nextRun.toISOString()}`);
    if (!ctx.signal.aborted) await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
    log.info('stopping: cancelling running jobs (their after-hooks run, locks are released)');
  } finally {
    if (textfileTimer) clearInterval(textfileTimer);
    await server.close();
    await daemon.stop();
    await writeTextfile().catch(() => undefined); // best effort: the daemon is stopping either way
  }
}
