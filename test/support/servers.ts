/**
 * Throwaway servers for integration tests, one import away:
 *
 *   const pg = await startPostgres();
 *   t.after(() => pg.stop());
 *
 * Each server gets a random loopback port and its own temp dir, is ready when the start
 * promise resolves, and is killed with its temp dir removed by stop(), or at the latest
 * when the test process exits or is interrupted (SIGINT, SIGTERM).
 */
export { startPostgres, type PostgresServer, type PostgresOptions } from './postgres.ts';
export { startMariadb, type MariadbServer, type MariadbOptions } from './mariadb.ts';
export { startRedis, type RedisServer, type RedisOptions } from './redis.ts';
export { startRcloneRestServer, type RestServer, type RestServerOptions } from './rclone.ts';
export { SERVER_BINARIES } from './binaries.ts';
export { isPortOpen } from './ports.ts';

/** Anything with an after-hook: node:test's TestContext, or { after } from node:test for a suite. */
export interface AfterHookHost {
  after(fn: () => Promise<void>): unknown;
}

/** Registers `server.stop()` as an after-hook of `t` and returns the server. */
export function stopAfter<T extends { stop(): Promise<void> }>(t: AfterHookHost, server: T): T {
  t.after(() => server.stop());
  return server;
}
