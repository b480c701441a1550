/** A drill's throwaway VictoriaMetrics server, started by the source's runner where it runs. */
import { createServer } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SourceError } from '../../core/errors.ts';
import type { SourceContext } from '../../core/source.ts';
import type { SourceDeps } from '../source-kit.ts';
import type { TunnelFetchers } from '../tunnel-fetch.ts';
import { nowMs } from '../../util/clock.ts';
import { VmClient } from './victoriametrics-client.ts';

export const START_TIMEOUT_MS = 60_000;

/** A throwaway server on a restored directory, loopback only, on a free port; SIGKILLed by stop(). */
export async function startScratchServer(bin: string, dir: string, deps: SourceDeps, ctx: SourceContext, tunnels?: TunnelFetchers): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await new Promise<number>((resolve, reject) => {
    const s = createServer().once('error', reject).listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
  const proc = deps.runner.start({ command: bin, args: [`-storageDataPath=${dir}`, `-httpListenAddr=127.0.0.1:${port}`, '-retentionPeriod=100y'], cwd: path.dirname(dir) });
  proc.stdin.end();
  proc.stdout.resume();
  let exited: string | undefined;
  void proc.done.then((e) => {
    exited = `${e.signal ?? `exit ${e.code}`}: ${e.stderr.trim().split('\n').slice(-2).join(' | ')}`;
  });
  const stop = async (): Promise<void> => {
    if (exited === undefined) {
      proc.kill('SIGKILL');
      await proc.done;
    }
  };
  const url = `http://127.0.0.1:${port}`;
  const fetch = await tunnels?.fetchFor(url);
  const client = new VmClient({ what: `scratch server ${url}`, url, timeoutMs: 30_000, signal: ctx.signal, ...(fetch ? { fetch } : {}) });
  const deadline = nowMs() + START_TIMEOUT_MS;
  while (!(await client.isUp())) {
    if (exited !== undefined || nowMs() > deadline || ctx.signal.aborted) {
      await stop();
      throw new SourceError(`victoriametrics drill: cannot start ${bin} on ${dir}: ${exited ?? 'no answer on /health'}`, { hint: 'install VictoriaMetrics (Debian victoria-metrics) or set server_bin' });
    }
    await sleep(100);
  }
  return { url, stop };
}
