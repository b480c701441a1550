/**
 * A source's failure decides the daemon's retry (src/daemon/error-class.ts), against a real
 * Redis on a fake clock: while the server is down (nothing listens on its port) the backup fails
 * as `transient`, is retried after 30 s without an alert, and succeeds once the server is up;
 * a source with a wrong password fails as `auth`, is not retried, and alerts at once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { writeFile } from 'node:fs/promises';
import { FixedClock } from '../../src/util/clock.ts';
import { initRepositoryAt } from '../../src/app/open-repository.ts';
import { openStack } from '../../src/app/stack.ts';
import { Daemon } from '../../src/daemon/daemon.ts';
import { freePort } from '../support/ports.ts';
import { needBinaries } from '../support/require.ts';
import { startRedis } from '../support/servers.ts';
import { tempDir } from '../support/tmp.ts';

const PW = 'retry-pw';

test('a source whose server is down is retried with backoff and succeeds once it is up; a wrong password is alerted at once', async (t) => {
  if (!needBinaries(t, 'redis-server', 'redis-cli')) return;
  const redis = await startRedis({ password: 'redis-pw-6612' });
  const tmp = await tempDir('daemon-source-retry');
  // The "server" the source talks to: nothing listens on this port until the test starts a
  // forwarder to the real Redis (a refused connection, as from a server that is down).
  const port = await freePort();
  let forwarder: net.Server | undefined;
  try {
    await initRepositoryAt(`local:${tmp.path}/repo`, PW, { scrypt: { N: 1024, r: 8, p: 1 } });
    const cfg = path.join(tmp.path, 'lifeboat.yml');
    await writeFile(cfg, `
repository: { url: ./repo, password: { env: LB_PW } }
state_dir: ./state
sources:
  cache: { type: redis, url: "redis://127.0.0.1:${port}", password: { env: REDIS_PW }, schedule: "0 * * * *" }
  locked-out: { type: redis, url: "redis://127.0.0.1:${redis.port}", password: { env: WRONG_PW }, schedule: "0 * * * *" }
notifications:
  - { type: webhook, url: "http://hooks.invalid/lifeboat" }
daemon: { time_zone: UTC, concurrency: 2 }
`);
    const clock = new FixedClock('2026-06-01T00:59:00Z');
    const sent: Array<{ event: string; subject: string }> = [];
    const fakeFetch = (async (_u: string | URL | Request, init?: RequestInit) => (sent.push(JSON.parse(String(init?.body))), new Response('ok'))) as typeof fetch;
    const log = { info: () => undefined, warn: () => undefined };
    const signal = new AbortController().signal;
    const env = { LB_PW: PW, REDIS_PW: 'redis-pw-6612', WRONG_PW: 'not-the-password', HOME: tmp.path, PATH: process.env.PATH };
    const stack = await openStack({ configFile: cfg, env, signal, log });
    const daemon = new Daemon({ stack, stackOptions: { configFile: cfg, env, signal, log }, clock, fetch: fakeFetch });
    const step = async (ms: number) => {
      clock.advance(ms);
      daemon.tick();
      await daemon.idle();
    };
    try {
      await step(60_000);
      const [down] = daemon.runs({ job: 'backup:cache' });
      assert.equal(down?.status, 'failed');
      assert.equal(down?.error_class, 'transient', down?.error ?? '');
      assert.match(down?.error ?? '', /ECONNREFUSED|connect/);
      assert.equal(daemon.jobs().find((j) => j.job.id === 'backup:cache')?.retryAt?.toISOString(), '2026-06-01T01:00:30.000Z');
      const [denied] = daemon.runs({ job: 'backup:locked-out' });
      assert.equal(denied?.error_class, 'auth', denied?.error ?? '');
      assert.equal(daemon.jobs().find((j) => j.job.id === 'backup:locked-out')?.retryAt, undefined, 'a wrong password is not retried');
      assert.deepEqual(sent.filter((a) => a.event !== 'start').map((a) => [a.event, a.subject]), [['failure', 'job:backup:locked-out']], 'auth alerts at once; the network failure waits for its retry');

      // The server comes up: the retry 30 s later succeeds, and nothing was alerted for it.
      forwarder = net.createServer((c) => {
        const up = net.connect(redis.port, '127.0.0.1');
        c.pipe(up).pipe(c);
        c.on('error', () => up.destroy());
        up.on('error', () => c.destroy());
      });
      await new Promise<void>((r) => forwarder?.listen(port, '127.0.0.1', r));
      await step(30_000);
      const [retried] = daemon.runs({ job: 'backup:cache' });
      assert.deepEqual([retried?.status, retried?.trigger, retried?.attempt], ['ok', 'retry', 2], retried?.error ?? '');
      assert.match(retried?.snapshot_id ?? '', /^[0-9a-f]{64}$/);
      assert.ok(!sent.some((a) => a.subject === 'job:backup:cache' && a.event !== 'start' && a.event !== 'success'), 'a failure fixed by its retry is never alerted');
      assert.ok(!JSON.stringify(daemon.runs({ limit: 100 })).includes('redis-pw-6612'), 'no password in the catalog');
    } finally {
      await daemon.stop();
    }
  } finally {
    forwarder?.close();
    await redis.stop();
    await tmp.cleanup();
  }
});
