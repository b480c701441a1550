// `lifeboat config init` writes a commented starter lifeboat.yml that `config check` passes,
// never over an existing file; its --detect probe tells PostgreSQL, MariaDB and Redis apart
// by their protocols (on throwaway servers here) and ignores other services on those ports.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { detectStores } from '../../src/app/detect-stores.ts';
import { starterConfig } from '../../src/config/starter.ts';
import { runCli } from '../support/in-process-cli.ts';
import { missingBinaries } from '../support/require.ts';
import { SERVER_BINARIES, startMariadb, startPostgres, startRedis, stopAfter } from '../support/servers.ts';
import { freePort } from '../support/ports.ts';
import { tempDir } from '../support/tmp.ts';

const tmp = await tempDir('config-init');
after(() => tmp.cleanup());

test('config init writes a starter that config check passes, and refuses to overwrite it', async () => {
  const file = path.join(tmp.path, 'plain', 'lifeboat.yml');
  await mkdir(path.dirname(file));
  const env = { HOME: tmp.path, LIFEBOAT_PASSWORD: 'starter' };
  const init = await runCli(['config', 'init', file], env);
  assert.equal(init.code, 0, init.stderr);
  const written = await readFile(file, 'utf8');
  assert.match(written, /^# lifeboat\.yml, written by "lifeboat config init"/);
  assert.match(written, /password: \{ env: LIFEBOAT_PASSWORD \}/);
  const check = await runCli(['-c', file, 'config', 'check'], env);
  assert.equal(check.code, 0, check.stderr);

  await writeFile(file, 'repository: { url: local:/mine, password: { env: MINE } }\n');
  const again = await runCli(['config', 'init', file], env);
  assert.equal(again.code, 2);
  assert.match(again.stderr, /already exists; lifeboat config init does not overwrite it/);
  assert.equal(await readFile(file, 'utf8'), 'repository: { url: local:/mine, password: { env: MINE } }\n');
});

test('--detect finds PostgreSQL, MariaDB and a Redis that wants a password; the file it makes passes config check', {
  skip: missingBinaries(...SERVER_BINARIES.postgres, ...SERVER_BINARIES.mariadb, ...SERVER_BINARIES.redis),
}, async (t) => {
  const [pg, maria, redis] = await Promise.all([startPostgres(), startMariadb(), startRedis({ password: 'redis-pw' })]);
  stopAfter(t, pg);
  stopAfter(t, maria);
  stopAfter(t, redis);
  const found = await detectStores({ ports: { postgres: pg.port, mysql: maria.port, redis: redis.port } });
  assert.deepEqual(found.map((s) => [s.kind, s.port, s.needsPassword]), [
    ['postgres', pg.port, undefined],
    ['mysql', maria.port, undefined],
    ['redis', redis.port, true],
  ]);
  assert.match(found[1]!.version ?? '', /MariaDB/);

  const file = path.join(tmp.path, 'detected.yml');
  await writeFile(file, starterConfig(found, true));
  const check = await runCli(['-c', file, 'config', 'check', '--json'], { HOME: tmp.path, LIFEBOAT_PASSWORD: 'x', REDIS_PASSWORD: 'redis-pw' });
  assert.equal(check.code, 0, check.stderr);
  const plan = JSON.parse(check.stdout) as { sources: Array<{ name: string; type: string }> };
  assert.deepEqual(plan.sources.map((s) => [s.name, s.type]).sort(), [['mysql', 'mysql'], ['postgres', 'postgres'], ['redis', 'redis']]);
});

test('--detect ignores a port where something else answers, and one where nothing listens', async (t) => {
  // Another service (an HTTP-ish server) on the "PostgreSQL" port, nothing on the others.
  const sockets = new Set<net.Socket>();
  const other = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined); // the probe hangs up when it has seen enough
    s.end('HTTP/1.1 400 Bad Request\r\n\r\n');
  });
  await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((resolve) => other.close(() => resolve()));
  });
  const port = (other.address() as net.AddressInfo).port;
  const found = await detectStores({ ports: { postgres: port, mysql: port, redis: await freePort() }, timeoutMs: 2000 });
  assert.deepEqual(found, []);
});
