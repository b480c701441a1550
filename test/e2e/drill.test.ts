/**
 * verify and drill end to end against real servers: a good backup drills green for every
 * source; a flipped byte in a pack, a truncated dump inside a snapshot, a manifest whose
 * fingerprint does not match the data, and a scratch server that cannot start each turn the
 * drill red naming the source and the cause; no scratch database, server or directory is
 * left behind after any drill.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { lifeboat, lastJson as last } from '../support/lifeboat-cli.ts';
import { startPostgres, startRedis } from '../support/servers.ts';
import type { PostgresServer, RedisServer } from '../support/servers.ts';
import { missingBinaries } from '../support/require.ts';
import { tempDir } from '../support/tmp.ts';
import type { TempDir } from '../support/tmp.ts';
import { Repository } from '../../src/repo/repository.ts';
import { createLocalStorage } from '../../src/storage/local/local-storage.ts';
import { listSnapshots } from '../../src/repo/snapshot/snapshot.ts';
import { SnapshotReader } from '../../src/repo/stack/stack-reader.ts';
import { SnapshotWriter } from '../../src/repo/stack/stack-writer.ts';

const LB_PW = 'drill-test-pw';

interface DrillJson {
  status: string;
  sources: Array<{ source: string; status: string; cause?: string; rto_ms?: number; rpo_ms: number; cleanup: string; scratch?: string }>;
}


describe('verify and drill', { skip: missingBinaries('initdb', 'pg_dump', 'pg_restore', 'redis-server', 'restic') }, () => {
  let tmp: TempDir;
  let pg: PostgresServer;
  let redis: RedisServer;
  let cfg: string;
  const env = (): NodeJS.ProcessEnv => ({ LB_PW, PG_PW: pg.password });
  const run = (args: string[]) => lifeboat(['-c', cfg, ...args], { env: env(), cwd: tmp.path });

  async function writeConfig(redisBin = 'redis-server'): Promise<void> {
    await writeFile(cfg, `
repository: { url: ./repo, password: { env: LB_PW } }
state_dir: ./state
sources:
  app-db:
    type: postgres
    connection: { host: 127.0.0.1, port: ${pg.port}, user: postgres, password: { env: PG_PW } }
    databases: [shop]
    bin_dir: ${pg.binDir}
    rto: 10m
    rpo: 1h
  cache:
    type: redis
    url: redis://127.0.0.1:${redis.port}
    redis_server_bin: ${redisBin}
  iam:
    type: sqlite
    path: ./iam.db
  configs:
    type: files
    paths: [./configs]
`);
  }

  /** Nothing a drill made may survive it: scratch databases, servers, temp dirs. */
  async function assertNoLeftovers(): Promise<void> {
    const dbs = await pg.psql("SELECT count(*) FROM pg_database WHERE datname LIKE 'lifeboat_drill%'");
    assert.equal(dbs.trim(), '0', 'a scratch database was left behind');
    const tmpDir = path.join(tmp.path, 'state', 'tmp');
    const left = await readdir(tmpDir).catch(() => [] as string[]);
    assert.deepEqual(left, [], `scratch files left in ${tmpDir}`);
    const procs = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).split('\n').filter((l) => l.includes('redis-server') && l.includes(tmp.path));
    assert.deepEqual(procs, [], 'a scratch redis-server is still running');
  }

  before(async () => {
    tmp = await tempDir('drill');
    [pg, redis] = await Promise.all([startPostgres(), startRedis()]);
    await pg.psql('CREATE DATABASE shop');
    await pg.psql("CREATE TABLE orders (id int primary key, note text); INSERT INTO orders SELECT g, 'order ' || g FROM generate_series(1, 3000) g;", 'shop');
    await redis.cli('MSET', 'a', '1', 'b', '2');
    const { DatabaseSync } = await import('node:sqlite');
    const db = new DatabaseSync(path.join(tmp.path, 'iam.db'));
    db.exec("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT); INSERT INTO users (email) VALUES ('a@x');");
    db.close();
    await mkdir(path.join(tmp.path, 'configs'));
    await writeFile(path.join(tmp.path, 'configs', 'app.toml'), 'x = 1\n');
    cfg = path.join(tmp.path, 'lifeboat.yml');
    await writeConfig();
    assert.equal((await run(['init'])).code, 0);
    const b = await run(['backup', '--json']);
    assert.equal(b.code, 0, b.stderr + b.stdout);
  });
  after(async () => {
    await Promise.allSettled([pg?.stop(), redis?.stop()]);
    await tmp?.cleanup();
  });

  test('a good backup verifies and drills green for every source, with RTO and RPO, leaving nothing behind', async () => {
    const v = await run(['verify', '--read-data', '--json']);
    assert.equal(v.code, 0, v.stderr + v.stdout);
    const d = await run(['drill', '--json']);
    assert.equal(d.code, 0, d.stderr + d.stdout);
    const r = last<DrillJson>(d);
    assert.equal(r.status, 'pass');
    assert.deepEqual(r.sources.map((s) => s.status), ['pass', 'pass', 'pass', 'pass']);
    for (const s of r.sources) {
      assert.ok(typeof s.rto_ms === 'number' && s.rto_ms >= 0);
      assert.ok(s.rpo_ms >= 0 && s.rpo_ms < 10 * 60_000);
      assert.equal(s.cleanup, 'done');
    }
    await assertNoLeftovers();
    const rep = await run(['report', '--json']);
    assert.equal(rep.code, 0, rep.stderr);
    const rows = last<{ sources: Array<{ source: string; drill?: { status: string }; verify?: { status: string } }> }>(rep).sources;
    assert.ok(rows.every((row) => row.drill?.status === 'pass' && row.verify?.status === 'ok'));
  });

  test('a scratch server that cannot start turns the drill red for that source only', async () => {
    await writeConfig('/bin/false');
    try {
      const d = await run(['drill', '--json']);
      assert.notEqual(d.code, 0);
      const r = last<DrillJson>(d);
      const cache = r.sources.find((s) => s.source === 'cache');
      assert.equal(cache?.status, 'fail');
      assert.match(cache?.cause ?? '', /false|start/i);
      assert.ok(r.sources.filter((s) => s.source !== 'cache').every((s) => s.status === 'pass'));
      await assertNoLeftovers();
    } finally {
      await writeConfig();
    }
  });

  async function tamperedSnapshot(mutate: (dump: Buffer, fingerprint: Record<string, unknown>) => { dump: Buffer; fingerprint: unknown }): Promise<void> {
    const repo = await Repository.open(createLocalStorage(path.join(tmp.path, 'repo')), LB_PW);
    await repo.loadIndex();
    const snaps = (await listSnapshots(repo)).filter((s) => s.tags?.includes('source:app-db'));
    // Always start from the original backup, not from a snapshot an earlier case tampered with.
    const src = snaps[0];
    assert.ok(src);
    const reader = await SnapshotReader.open(repo, src, 'app-db');
    const w = new SnapshotWriter(repo, { name: 'app-db', type: 'postgres' });
    let fp: unknown = reader.manifest.fingerprint;
    for (const a of reader.list()) {
      const parts: Buffer[] = [];
      for await (const c of reader.open(a.name)) parts.push(c);
      let bytes: Buffer = Buffer.concat(parts);
      if (a.name.endsWith('.dump')) {
        const m = mutate(bytes, reader.manifest.fingerprint as Record<string, unknown>);
        bytes = m.dump;
        fp = m.fingerprint;
      }
      await w.put(a.name, (async function* () {
        yield bytes;
      })());
    }
    await w.commit({ fingerprint: fp as Record<string, unknown>, commands: ['tampered by a test'] }, { time: new Date() });
  }

  test('a truncated dump inside a snapshot turns verify and the drill red', async () => {
    await tamperedSnapshot((dump, fingerprint) => ({ dump: dump.subarray(0, Math.floor(dump.length / 2)), fingerprint }));
    const v = await run(['verify', '--only', 'app-db', '--json']);
    assert.notEqual(v.code, 0, 'verify must fail on a truncated dump');
    const d = await run(['drill', '--only', 'app-db', '--json']);
    assert.notEqual(d.code, 0);
    const r = last<DrillJson>(d);
    assert.equal(r.sources[0]?.status, 'fail');
    assert.match(r.sources[0]?.cause ?? '', /app-db|pg_restore|shop/);
    await assertNoLeftovers();
  });

  test('a manifest whose fingerprint does not match the data turns the drill red', async () => {
    await tamperedSnapshot((dump, fingerprint) => {
      const fp = JSON.parse(JSON.stringify(fingerprint)) as { databases: Record<string, { tables: Record<string, number> }> };
      for (const db of Object.values(fp.databases)) for (const t of Object.keys(db.tables)) db.tables[t] = (db.tables[t] ?? 0) + 1;
      return { dump, fingerprint: fp };
    });
    const d = await run(['drill', '--only', 'app-db', '--json']);
    assert.notEqual(d.code, 0);
    const r = last<DrillJson>(d);
    assert.equal(r.sources[0]?.status, 'fail');
    assert.match(r.sources[0]?.cause ?? '', /fingerprint/);
    await assertNoLeftovers();
  });

  test('a flipped byte in a pack turns the drill red, naming the source', async () => {
    const dataDir = path.join(tmp.path, 'repo', 'data');
    let biggest = { p: '', size: 0 };
    for (const d of await readdir(dataDir)) {
      for (const f of await readdir(path.join(dataDir, d))) {
        const p = path.join(dataDir, d, f);
        const size = (await stat(p)).size;
        if (size > biggest.size) biggest = { p, size };
      }
    }
    const bytes = await readFile(biggest.p);
    const saved = Buffer.from(bytes);
    bytes[Math.floor(bytes.length / 2)] ^= 0xff;
    await chmod(biggest.p, 0o644);
    await writeFile(biggest.p, bytes);
    try {
      const d = await run(['drill', '--json']);
      assert.notEqual(d.code, 0);
      const r = last<DrillJson>(d);
      const failed = r.sources.filter((s) => s.status === 'fail');
      assert.ok(failed.some((f) => /damaged|MAC|integrity|hash/i.test(f.cause ?? '')), JSON.stringify(failed));
      await assertNoLeftovers();
    } finally {
      await writeFile(biggest.p, saved);
    }
  });
});
