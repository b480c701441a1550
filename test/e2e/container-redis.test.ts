/**
 * Redis in a container with no network (`--network none`) through the container transport,
 * end to end through the CLI: the server is reached only through a tunnel exec'd in its
 * container. The stored dump.rdb is an exact RDB (the diskless replication's 40-byte EOF mark
 * is not in it), restored online (temporary master staged in the container) and in
 * restore_mode data_dir (the container stopped, dump.rdb replaced, the container started
 * again), drilled against a scratch server in the same container that is removed afterwards,
 * with fingerprints equal and no redis tool on lifeboat's PATH.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { lifeboat, lastJson as last } from '../support/lifeboat-cli.ts';
import type { StackReport as Report } from '../support/lifeboat-cli.ts';
import { pollUntil } from '../support/ports.ts';
import { startDockerEngine } from '../support/docker-engine.ts';
import type { DockerEngine } from '../support/docker-engine.ts';
import { tempDir } from '../support/tmp.ts';
import type { TempDir } from '../support/tmp.ts';

const LB_PW = 'container-redis-repo-pw-2231';
const REDIS_PW = 'container-redis-pw-7719';
const IMAGE = 'lifeboat-test/stores:1';
const STORE_IMAGE_DIR = path.join(import.meta.dirname, '..', 'fixtures', 'store-image');
const REDIS_TOOLS = ['redis-server', 'redis-cli', 'redis-check-rdb', 'valkey-server'];


describe('redis in a container without a network, no redis tool on the host', () => {
  let engine: DockerEngine | undefined;
  let tmp: TempDir;
  const name = `lb-e2e-redis-${process.pid}`;
  const hostPath = (process.env.PATH ?? '').split(':').filter((d) => d !== '' && !REDIS_TOOLS.some((t) => existsSync(path.join(d, t)))).join(':');

  const dockerOk = async (args: string[], input?: string): Promise<string> => {
    const r = await (engine as DockerEngine).docker(args, { input, env: { REDISCLI_AUTH: REDIS_PW, RPW: REDIS_PW } });
    assert.equal(r.code, 0, `docker ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };
  const cli = (args: string[], input?: string) => dockerOk(['exec', '-i', '-e', 'REDISCLI_AUTH', name, 'redis-cli', ...args], input);
  /** Every key with its type and value, sorted: equal before and after means the data came back. */
  const digest = () => cli(['EVAL', `
    local out = {}
    for _, k in ipairs(redis.call('KEYS', '*')) do
      local t = redis.call('TYPE', k).ok
      local v
      if t == 'string' then v = redis.call('GET', k)
      elseif t == 'hash' then v = table.concat(redis.call('HGETALL', k), ',')
      elseif t == 'list' then v = table.concat(redis.call('LRANGE', k, 0, -1), ',')
      else v = table.concat(redis.call('ZRANGE', k, 0, -1, 'WITHSCORES'), ',') end
      out[#out + 1] = k .. '=' .. t .. ':' .. v
    end
    table.sort(out)
    return redis.sha1hex(table.concat(out, ';')) .. ' ' .. #out`, '0']);
  const config = async (file: string, extra: string): Promise<string> => {
    const cfg = path.join(tmp.path, file);
    await writeFile(cfg, `
repository:
  url: ./repo-${file}
  password: { env: LB_PW }
state_dir: ./state-${file}
sources:
  cache:
    type: redis
    container: ${name}
    url: redis://127.0.0.1:6379
    password: { env: REDIS_PW }
${extra}`);
    return cfg;
  };
  const run = (cfg: string, args: string[]) => lifeboat(['-c', cfg, ...args], {
    cwd: tmp.path,
    env: { PATH: hostPath, DOCKER_HOST: (engine as DockerEngine).dockerHost, LB_PW, REDIS_PW },
  });
  const wipe = () => cli(['FLUSHALL', 'SYNC']);

  before(async (t) => {
    engine = await startDockerEngine(t as never);
    if (!engine) return;
    await engine.ensureBaseImage();
    await engine.buildImage(STORE_IMAGE_DIR, IMAGE);
    tmp = await tempDir('container-redis');
    // The password reaches the server through a config file made from the environment, so
    // it is in no process's argv; diskless replication (the $EOF:<mark> framing) explicitly.
    await dockerOk(['run', '-d', '--network', 'none', '--name', name, '-e', 'RPW', IMAGE, 'bash', '-c',
      'set -e; mkdir -p /data; chown redis:redis /data; umask 077; printf "requirepass %s\\n" "$RPW" > /etc/redis/pw.conf; chown redis /etc/redis/pw.conf; '
      + 'exec setpriv --reuid=redis --regid=redis --init-groups redis-server /etc/redis/pw.conf --dir /data --bind 127.0.0.1 --port 6379 --appendonly no --repl-diskless-sync yes --repl-diskless-sync-delay 0']);
  });
  after(async () => {
    if (!engine) return;
    await engine.docker(['rm', '-f', name]);
    await engine.stop();
    await tmp?.cleanup();
  });

  test('backup, wipe, restore online and drill, fingerprints equal, an exact RDB stored', async (t) => {
    if (!engine) return t.skip('no engine');
    for (const dir of hostPath.split(':')) for (const tool of REDIS_TOOLS) assert.ok(!existsSync(path.join(dir, tool)), `${dir}/${tool}`);
    await pollUntil(async () => (await engine?.docker(['exec', '-e', 'REDISCLI_AUTH', name, 'redis-cli', 'PING'], { env: { REDISCLI_AUTH: REDIS_PW } }))?.stdout.trim() === 'PONG', { timeoutMs: 60_000, what: 'redis in its container' });
    const seed = [];
    for (let i = 0; i < 2000; i++) seed.push(`SET key:${i} value-${i}-${'x'.repeat(i % 50)}`);
    for (let i = 0; i < 50; i++) seed.push(`HSET hash:${i} a ${i} b ${i * 2}`, `RPUSH list:${i} one two ${i}`, `ZADD zset:${i} ${i} m${i} 1.5 n${i}`);
    await cli([], `${seed.join('\n')}\nSAVE\n`);
    const want = await digest();
    assert.match(want, / 2150$/);

    const cfg = await config('online.yml', '');
    assert.equal((await run(cfg, ['init'])).code, 0);
    const b = await run(cfg, ['backup', '--json']);
    assert.equal(b.code, 0, b.stderr + b.stdout);
    assert.deepEqual(last<Report>(b).sources.map((s) => [s.source, s.status]), [['cache', 'ok']]);
    assert.ok(!(b.stdout + b.stderr).includes(REDIS_PW), 'a secret was printed');

    // The stored artifact is an RDB that ends with its EOF opcode and CRC-64: no 40-byte EOF
    // mark after it (the diskless transfer's framing); the server's own checker accepts it.
    const rdb = (await run(cfg, ['dump', 'latest', '/cache/dump.rdb'])).stdoutBytes;
    assert.equal(rdb.subarray(0, 5).toString('latin1'), 'REDIS');
    assert.equal(rdb[rdb.length - 9], 0xff, 'the RDB does not end with the EOF opcode and its checksum');
    const checked = await engine.docker(['exec', '-i', name, 'sh', '-c', 'cat > /tmp/check.rdb && redis-check-rdb /tmp/check.rdb; rc=$?; rm -f /tmp/check.rdb; exit $rc'], { input: rdb });
    assert.equal(checked.code, 0, checked.stdout + checked.stderr);
    assert.match(checked.stdout, /RDB looks OK/);

    await wipe();
    assert.notEqual(await digest(), want);
    const r = await run(cfg, ['restore', '--yes', '--no-safety-snapshot', '--json']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const rr = last<Report>(r);
    assert.equal(rr.status, 'ok', JSON.stringify(rr.sources));
    assert.deepEqual(rr.sources[0]?.fingerprint_diff, []);
    assert.equal(await digest(), want);
    // The staged RDB and the temporary server are gone from the container.
    assert.equal(await dockerOk(['exec', name, 'sh', '-c', 'ls -d /tmp/lifeboat-* 2>/dev/null | wc -l; grep -l redis-server /proc/[0-9]*/comm 2>/dev/null | wc -l']), '0\n1');

    const d = await run(cfg, ['drill', '--json']);
    assert.equal(d.code, 0, d.stderr + d.stdout);
    assert.deepEqual(last<Report>(d).sources.map((s) => [s.source, s.status, s.cleanup]), [['cache', 'pass', 'done']]);
    // The scratch server ran beside production in the container and is gone, its dir too;
    // no tunnel's copier (cat) outlived its connection, not even as a zombie (PID 1 is
    // redis-server, which reaps nothing).
    assert.equal(await dockerOk(['exec', name, 'sh', '-c', 'ls -d /tmp/lifeboat-* 2>/dev/null | wc -l; grep -l redis-server /proc/[0-9]*/comm 2>/dev/null | wc -l; grep -lx cat /proc/[0-9]*/comm 2>/dev/null | wc -l']), '0\n1\n0');
    assert.equal(await digest(), want);
  });

  test('restore_mode data_dir: the container is stopped, dump.rdb replaced (owner kept), the container started', async (t) => {
    if (!engine) return t.skip('no engine');
    const want = await digest();
    const cfg = await config('datadir.yml', '    restore_mode: data_dir\n    data_dir: /data\n');
    assert.equal((await run(cfg, ['init'])).code, 0);
    assert.equal((await run(cfg, ['backup'])).code, 0);
    const startedBefore = await dockerOk(['inspect', '--format', '{{.State.StartedAt}}', name]);
    await wipe();
    await cli(['SET', 'only-after-backup', '1']);
    await cli(['SAVE']);
    const r = await run(cfg, ['restore', '--yes', '--no-safety-snapshot', '--json']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const rr = last<Report>(r);
    assert.equal(rr.status, 'ok', JSON.stringify(rr.sources));
    assert.deepEqual(rr.sources[0]?.fingerprint_diff, []);
    assert.notEqual(await dockerOk(['inspect', '--format', '{{.State.StartedAt}}', name]), startedBefore, 'the container was not restarted');
    assert.equal(await digest(), want);
    // dump.rdb is the server's own file (owner redis), and the temp name beside it is gone.
    assert.equal(await dockerOk(['exec', name, 'sh', '-c', 'stat -c %U /data/dump.rdb; ls -A /data']), 'redis\ndump.rdb');
  });

  test('restore_mode data_dir into a dir the container lacks: one line naming it, the server never stopped', async (t) => {
    if (!engine) return t.skip('no engine');
    const want = await digest();
    const cfg = await config('datadir.yml', '    restore_mode: data_dir\n    data_dir: /nowhere\n');
    const startedBefore = await dockerOk(['inspect', '--format', '{{.State.StartedAt}}', name]);
    const r = await run(cfg, ['restore', '--yes', '--no-safety-snapshot', '--json']);
    assert.notEqual(r.code, 0);
    assert.match(r.stdout + r.stderr, new RegExp(`cannot write dump\\.rdb into /nowhere in container ${name}`));
    assert.equal(await dockerOk(['inspect', '--format', '{{.State.StartedAt}}', name]), startedBefore);
    assert.equal(await digest(), want);
  });

  test('a stopped container and a wrong port: one line naming the container or the address, and the next step', async (t) => {
    if (!engine) return t.skip('no engine');
    const bad = await config('badport.yml', '');
    await writeFile(bad, (await readFile(bad, 'utf8')).replace('127.0.0.1:6379', '127.0.0.1:6390'));
    assert.equal((await run(bad, ['init'])).code, 0);
    const p = await run(bad, ['backup', '--json']);
    assert.notEqual(p.code, 0);
    assert.match(p.stdout + p.stderr, new RegExp(`cannot connect to 127\\.0\\.0\\.1:6390 from container ${name}`));
    // Without a password nothing is sent on connecting: the tunnel's failure is still named.
    const nopw = await config('badport-nopw.yml', '');
    await writeFile(nopw, (await readFile(bad, 'utf8')).replace(/\n {4}password: \{ env: REDIS_PW \}/, ''));
    assert.doesNotMatch(await readFile(nopw, 'utf8'), /REDIS_PW/);
    const q = await run(nopw, ['backup', '--json']);
    assert.notEqual(q.code, 0);
    assert.match(q.stdout + q.stderr, new RegExp(`cannot connect to 127\\.0\\.0\\.1:6390 from container ${name}`));

    await dockerOk(['stop', '-t', '5', name]);
    try {
      const s = await run(bad, ['backup', '--json']);
      assert.notEqual(s.code, 0);
      assert.match(s.stdout + s.stderr, new RegExp(`container ${name} is not running`));
      assert.match(s.stdout + s.stderr, new RegExp(`docker start ${name}`));
    } finally {
      await dockerOk(['start', name]);
    }
  });
});
