/**
 * Redis on a host reached over ssh (a test sshd on a loopback port; the remote host is this
 * machine), its server listening on that host's loopback only. Through the CLI: backup (the
 * replica snapshot through a tunnel run over ssh), wipe, online restore (the temporary master
 * runs over there with the RDB staged there) and a drill (scratch server over there, removed
 * afterwards), fingerprints equal, with no redis tool on lifeboat's PATH; then restore_mode
 * data_dir through the source, over the same ssh runner. The password is in no argv: every ssh
 * client's argv (which carries the remote command's) is recorded by a wrapper and checked.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { compareFingerprints } from '../../src/core/source.ts';
import { SourceError } from '../../src/core/errors.ts';
import { redisType } from '../../src/sources/redis/redis-source.ts';
import { createSshRunner } from '../../src/transport/ssh-runner.ts';
import { lifeboat, lastJson as last } from '../support/lifeboat-cli.ts';
import type { StackReport as Report } from '../support/lifeboat-cli.ts';
import { memoryArtifacts, testContext } from '../support/memory-artifacts.ts';
import { freePort } from '../support/ports.ts';
import { needBinaries } from '../support/require.ts';
import { SERVER_BINARIES } from '../support/binaries.ts';
import { startRedis } from '../support/servers.ts';
import type { RedisServer } from '../support/servers.ts';
import { startSshd } from '../support/sshd.ts';
import type { SshServer } from '../support/sshd.ts';
import { tempDir } from '../support/tmp.ts';
import type { TempDir } from '../support/tmp.ts';

const LB_PW = 'ssh-redis-repo-pw-5521';
const REDIS_PW = 'ssh-redis-pw-8830';
const REDIS_TOOLS = ['redis-server', 'redis-cli', 'redis-check-rdb', 'valkey-server'];

/** The remote dirs named in the recorded ssh argv (made by mktemp over there; its templates left out). */
const remoteDirs = (argv: string, prefix: string): string[] => [...new Set(argv.match(new RegExp(`/tmp/${prefix}\\.[A-Za-z0-9]+`, 'g')) ?? [])].filter((d) => !/X{6,}$/.test(d));

describe('redis on a host reached over ssh, no redis tool on lifeboat\'s PATH', () => {
  let sshd: SshServer | undefined;
  let redis: RedisServer | undefined;
  let tmp: TempDir;
  let cfg: string;
  let hostPath: string;
  let argvLog: string;

  const run = (args: string[]) => lifeboat(['-c', cfg, ...args], { cwd: tmp.path, env: { PATH: hostPath, LB_PW, REDIS_PW } });
  /** Every key with its value, sorted, hashed by the server itself. */
  const digest = async () => (redis as RedisServer).cli('EVAL', `
    local out = {}
    for _, k in ipairs(redis.call('KEYS', '*')) do
      local t = redis.call('TYPE', k).ok
      local v
      if t == 'string' then v = redis.call('GET', k)
      elseif t == 'hash' then v = table.concat(redis.call('HGETALL', k), ',')
      else v = table.concat(redis.call('LRANGE', k, 0, -1), ',') end
      out[#out + 1] = k .. '=' .. t .. ':' .. v
    end
    table.sort(out)
    return redis.sha1hex(table.concat(out, ';')) .. ' ' .. #out`, '0');
  const ssh = () => {
    const s = sshd as SshServer;
    return { host: s.host, port: s.port, user: s.user, identity_file: s.identityFile, known_hosts: s.knownHosts };
  };

  before(async (t) => {
    if (!needBinaries(t as never, ...SERVER_BINARIES.redis, 'ssh')) return;
    sshd = await startSshd(t as never, { path: '/usr/local/bin:/usr/bin:/bin' });
    if (!sshd) return;
    redis = await startRedis({ password: REDIS_PW });
    tmp = await tempDir('ssh-redis');
    // lifeboat's PATH: no redis tool, and an ssh that records its argv before running the real one.
    const bin = path.join(tmp.path, 'bin');
    await mkdir(bin);
    argvLog = path.join(tmp.path, 'ssh-argv.log');
    await writeFile(path.join(bin, 'ssh'), `#!/bin/sh\nprintf '%s\\n' "$*" >> ${argvLog}\nexec /usr/bin/ssh "$@"\n`);
    await chmod(path.join(bin, 'ssh'), 0o755);
    hostPath = [bin, ...(process.env.PATH ?? '').split(':').filter((d) => d !== '' && !REDIS_TOOLS.some((x) => existsSync(path.join(d, x))))].join(':');
    const s = ssh();
    cfg = path.join(tmp.path, 'lifeboat.yml');
    await writeFile(cfg, `
repository:
  url: ./repo
  password: { env: LB_PW }
state_dir: ./state
sources:
  cache:
    type: redis
    ssh: { host: ${s.host}, port: ${s.port}, user: ${s.user}, identity_file: ${s.identity_file}, known_hosts: ${s.known_hosts} }
    url: redis://127.0.0.1:${redis.port}
    password: { env: REDIS_PW }
`);
  });
  after(async () => {
    await redis?.stop();
    await sshd?.stop();
    await tmp?.cleanup();
  });

  test('backup, wipe, restore online and drill over ssh, fingerprints equal, the password in no argv', async (t) => {
    if (!sshd || !redis) return t.skip('no sshd');
    for (const dir of hostPath.split(':')) for (const tool of REDIS_TOOLS) assert.ok(!existsSync(path.join(dir, tool)), `${dir}/${tool}`);
    const seed = [];
    for (let i = 0; i < 1500; i++) seed.push(['SET', `key:${i}`, `value-${i}-${'x'.repeat(i % 40)}`]);
    for (let i = 0; i < 40; i++) seed.push(['HSET', `hash:${i}`, 'a', String(i), 'b', String(i * 2)], ['RPUSH', `list:${i}`, 'one', 'two', String(i)]);
    for (const c of seed) await redis.cli(...c);
    const want = await digest();
    assert.match(want, / 1580$/);

    assert.equal((await run(['init'])).code, 0);
    const b = await run(['backup', '--json']);
    assert.equal(b.code, 0, b.stderr + b.stdout);
    assert.deepEqual(last<Report>(b).sources.map((s) => [s.source, s.status]), [['cache', 'ok']]);

    await redis.cli('FLUSHALL', 'SYNC');
    assert.notEqual(await digest(), want);
    const r = await run(['restore', '--yes', '--no-safety-snapshot', '--json']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.deepEqual(last<Report>(r).sources.map((s) => [s.source, s.status, s.fingerprint_diff]), [['cache', 'ok', []]]);
    assert.equal(await digest(), want);

    const d = await run(['drill', '--json']);
    assert.equal(d.code, 0, d.stderr + d.stdout);
    assert.deepEqual(last<Report>(d).sources.map((s) => [s.source, s.status, s.cleanup]), [['cache', 'pass', 'done']]);

    const argv = await readFile(argvLog, 'utf8');
    // The RDB was staged over there for the temporary master, the scratch server ran in a dir there: all removed.
    const made = [...remoteDirs(argv, 'lifeboat-stage'), ...remoteDirs(argv, 'lifeboat-redis-drill')];
    assert.ok(made.some((d) => d.includes('stage')) && made.some((d) => d.includes('drill')), made.join(' '));
    assert.deepEqual(made.filter((d) => existsSync(d)), [], 'a stage or scratch dir was left on the remote host');
    assert.match(argv, /redis-server/, 'the temporary and scratch servers did not run over ssh');
    assert.match(argv, /dev\/tcp|socat|nc /, 'no tunnel ran over ssh');
    for (const out of [argv, b.stdout + b.stderr, r.stdout + r.stderr, d.stdout + d.stderr]) assert.ok(!out.includes(REDIS_PW), 'the password was in argv or printed');
  });

  test('restore_mode data_dir over ssh: refused while the server runs, then dump.rdb replaced in place', async (t) => {
    if (!sshd || !redis) return t.skip('no sshd');
    const secrets = async () => REDIS_PW;
    const s = ssh();
    const runner = createSshRunner({ host: s.host, port: s.port, user: s.user, identityFile: s.identity_file, knownHosts: s.known_hosts });
    const work = await tempDir('ssh-redis-src');
    t.after(() => work.cleanup());
    const source = (url: string, dataDir: string) => redisType.create('cache', { url, password: { env: 'REDIS_PW' }, restore_mode: 'data_dir', data_dir: dataDir }, { runner, secrets, tmpDir: work.path });
    const artifacts = await memoryArtifacts();
    t.after(() => artifacts.cleanup());
    const ctx = testContext();
    const outcome = await source(`redis://127.0.0.1:${redis.port}`, redis.dataDir).backup(artifacts.sink, ctx);

    // Still running over there: refused before anything is written.
    const before = await readdir(redis.dataDir);
    await assert.rejects(source(`redis://127.0.0.1:${redis.port}`, redis.dataDir).restore(artifacts.reader(), ctx),
      (err: unknown) => err instanceof SourceError && new RegExp(`server at 127\\.0\\.0\\.1:${redis?.port} on .* is still running`).test(err.message));
    assert.deepEqual(await readdir(redis.dataDir), before);

    // A stopped server's dir (an unused port): dump.rdb written, no temp file left.
    const dir = await tempDir('ssh-redis-data');
    t.after(() => dir.cleanup());
    await writeFile(path.join(dir.path, 'dump.rdb'), 'old contents');
    await chmod(path.join(dir.path, 'dump.rdb'), 0o640);
    const port = await freePort();
    await source(`redis://127.0.0.1:${port}`, dir.path).restore(artifacts.reader(), ctx);
    assert.deepEqual(await readdir(dir.path), ['dump.rdb'], 'a temp file was left');
    const fresh = await startRedis({ password: REDIS_PW, extraConfig: [`dir "${dir.path}"`] });
    t.after(() => fresh.stop());
    assert.deepEqual(compareFingerprints(outcome.fingerprint, await source(`redis://127.0.0.1:${fresh.port}`, dir.path).fingerprint(ctx)), []);
  });
});
