/**
 * A redis client through a tunnel (net-tunnel.ts) opened from where a runner's commands run:
 * the store's container, or the host reached over ssh.
 */
import type { CommandRunner } from '../../core/command-runner.ts';
import { SourceError } from '../../core/errors.ts';
import { openTunnel } from '../net-tunnel.ts';
import { RedisClient } from './redis-client.ts';
import type { ConnectOptions, RedisEndpoint } from './redis-client.ts';

/**
 * A client of the server at `ep` as seen where `runner`'s commands run, through a tunnel that
 * closes with the client. A connection refused over there is one line naming it.
 */
export async function connectThrough(runner: CommandRunner, tmpDir: string, ep: RedisEndpoint, opts: ConnectOptions, where: string): Promise<RedisClient> {
  const tunnel = await openTunnel(runner, ep.host, ep.port, tmpDir, where, opts.signal);
  try {
    const client = await RedisClient.connect({ ...ep, path: tunnel.path }, opts);
    if (ep.password === undefined) {
      // Without AUTH, connecting sends nothing: one round trip proves the far end reached a
      // server, so a port nothing listens on over there is named here, not as a closed connection later.
      await client.call(['PING']).catch((err: unknown) => {
        client.close();
        throw err;
      });
    }
    return client;
  } catch (err) {
    const f = tunnel.failure();
    await tunnel.close();
    if (f === undefined) throw err;
    throw new SourceError(`${opts.what}: cannot connect to ${ep.host}:${ep.port} from ${where}: ${f}`, {
      cause: err, retryable: true, hint: 'check the url as seen where the server runs (host and port in its container or on its ssh host) and that the server is up',
    });
  }
}
