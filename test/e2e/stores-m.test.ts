/**
 * The qdrant, wikijs, n8n and files-with-format-faiss sources through the CLI and a real
 * repository: backup, verify --read-data, drill (green, nothing left behind), wipe, restore,
 * and the data back byte for byte or row for row. Qdrant is the protocol double, n8n the real
 * CLI (test/support/n8n.ts installs it), Wiki.js a real PostgreSQL server and a git clone.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { flatIndex } from '../support/faiss-files.ts';
import { lifeboat, lastJson as last } from '../support/lifeboat-cli.ts';
import { installN8n, missingN8n, n8nEnv, runN8n } from '../support/n8n.ts';
import { startQdrantDouble, type QdrantDouble } from '../support/qdrant-double.ts';
import { missingBinaries } from '../support/require.ts';
import { startPostgres } from '../support/servers.ts';
import type { PostgresServer } from '../support/servers.ts';
import { tempDir, type TempDir } from '../support/tmp.ts';

const run = promisify(execFile);

describe('qdrant, wikijs, n8n and FAISS index sources end to end', { skip: missingBinaries('initdb', 'pg_dump', 'pg_restore', 'git') || missingN8n() }, () => {
  let tmp: TempDir;
  let q: QdrantDouble;
  let pg: PostgresServer;
  let cfg: string;
  const index = (): string => path.join(tmp.path, 'faiss_index', 'index.faiss');
  const repo = (): string => path.join(tmp.path, 'wiki-repo');
  const n8nHome = (): string => path.join(tmp.path, 'n8n-home');
  let n8nBrokerPort = '';
  const cli = (args: string[]) => lifeboat(['-c', cfg, ...args], { env: { LB_PW: 'e2e-pw', PG_PW: pg.password, QDRANT_KEY: 'qk-1', N8N_KEY: 'nk-1' }, cwd: tmp.path });
  const points = (c: string): number => q.collections.get(c)?.points.size ?? -1;

  before(async () => {
    tmp = await tempDir('stores-m');
    [q, pg] = await Promise.all([startQdrantDouble({ apiKey: 'qk-1' }), startPostgres()]);
    const put = (p: string, body: unknown) => fetch(`${q.url}${p}`, { method: 'PUT', headers: { 'api-key': 'qk-1', 'content-type': 'application/json' }, body: JSON.stringify(body) });
    await put('/collections/code_embeddings', { vectors: { size: 4, distance: 'Cosine' } });
    await put('/collections/code_embeddings/points', { points: Array.from({ length: 50 }, (_, i) => ({ id: i + 1, vector: [i, 1, 2, 3], payload: { f: `f${i}` } })) });

    await mkdir(path.join(tmp.path, 'faiss_index'));
    await writeFile(index(), flatIndex(16, 64));
    await writeFile(path.join(tmp.path, 'faiss_index', 'index.pkl'), 'sidecar');

    await pg.psql('CREATE DATABASE wikijs');
    await pg.psql("CREATE TABLE users (id serial PRIMARY KEY, email text); CREATE TABLE pages (id serial PRIMARY KEY, content text); INSERT INTO users (email) VALUES ('a@x'); INSERT INTO pages (content) SELECT 'page ' || g FROM generate_series(1, 25) g;", 'wikijs');
    await mkdir(repo());
    const git = (...a: string[]) => run('git', ['-c', 'user.name=w', '-c', 'user.email=w@x', ...a], { cwd: repo() });
    await git('init', '-q');
    await writeFile(path.join(repo(), 'home.md'), '# Home\n');
    await git('add', '.');
    await git('commit', '-q', '-m', 'sync');

    const n8n = await installN8n();
    n8nBrokerPort = (await n8nEnv(n8nHome())).N8N_RUNNERS_BROKER_PORT;
    await mkdir(n8nHome());
    const wf = { id: 'w1w1w1w1w1w1w1w1', name: 'Nightly', active: false, nodes: [{ id: 'n1', name: 'Schedule', type: 'n8n-nodes-base.scheduleTrigger', typeVersion: 1.2, position: [0, 0], parameters: {} }], connections: {}, settings: {} };
    await writeFile(path.join(tmp.path, 'wf.json'), JSON.stringify([wf]));
    await writeFile(path.join(tmp.path, 'cred.json'), JSON.stringify([{ id: 'c1c1c1c1c1c1c1c1', name: 'api', type: 'httpHeaderAuth', data: { name: 'X-Key', value: 'v' } }]));
    await runN8n(n8nHome(), 'nk-1', 'import:credentials', `--input=${path.join(tmp.path, 'cred.json')}`);
    await runN8n(n8nHome(), 'nk-1', 'import:workflow', `--input=${path.join(tmp.path, 'wf.json')}`);

    cfg = path.join(tmp.path, 'lifeboat.yml');
    await writeFile(cfg, `
repository: { url: ./repo, password: { env: LB_PW } }
state_dir: ./state
sources:
  qdrant:
    type: qdrant
    url: ${q.url}
    api_key: { env: QDRANT_KEY }
  wiki:
    type: wikijs
    database:
      connection: { host: 127.0.0.1, port: ${pg.port}, user: postgres, password: { env: PG_PW } }
      name: wikijs
      bin_dir: ${pg.binDir}
    git_storage: ${repo()}
  faiss:
    type: files
    paths: [${path.join(tmp.path, 'faiss_index')}]
    format: faiss
  n8n:
    type: n8n
    n8n_bin: ${n8n}
    user_folder: ${n8nHome()}
    encryption_key: { env: N8N_KEY }
    env: { DB_TYPE: sqlite, N8N_RUNNERS_BROKER_PORT: "${n8nBrokerPort}" }
`);
    assert.equal((await cli(['init'])).code, 0);
  }, { timeout: 45 * 60_000 }); // a cold n8n install takes 10-15 min
  after(async () => {
    await Promise.allSettled([q?.close(), pg?.stop()]);
    await tmp?.cleanup();
  });

  test('backup, verify and drill pass; wiped data comes back with restore', async () => {
    const b = await cli(['backup', '--json']);
    assert.equal(b.code, 0, b.stderr + b.stdout);
    const v = await cli(['verify', '--read-data', '--json']);
    assert.equal(v.code, 0, v.stderr + v.stdout);
    const d = await cli(['drill', '--json']);
    assert.equal(d.code, 0, d.stderr + d.stdout);
    const drill = last<{ status: string; sources: Array<{ source: string; status: string; cleanup: string }> }>(d);
    assert.deepEqual(drill.sources.map((s) => [s.source, s.status, s.cleanup]).sort(), [['faiss', 'pass', 'done'], ['n8n', 'pass', 'done'], ['qdrant', 'pass', 'done'], ['wiki', 'pass', 'done']]);
    assert.deepEqual([...q.collections.keys()], ['code_embeddings'], 'a drill collection was left behind');
    assert.equal((await pg.psql("SELECT count(*) FROM pg_database WHERE datname LIKE 'lifeboat_drill%'")).trim(), '0');
    assert.deepEqual(await readdir(path.join(tmp.path, 'state', 'tmp')).catch(() => []), []);

    const faissBytes = await readFile(index());
    q.collections.delete('code_embeddings');
    await writeFile(index(), flatIndex(16, 3));
    await pg.psql('DELETE FROM pages WHERE id > 5', 'wikijs');
    await writeFile(path.join(repo(), 'home.md'), 'changed\n');
    await rm(path.join(n8nHome(), '.n8n'), { recursive: true });

    const r = await cli(['restore', '--yes', '--json']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.equal(points('code_embeddings'), 50);
    assert.ok((await readFile(index())).equals(faissBytes));
    assert.equal((await pg.psql('SELECT count(*) FROM pages', 'wikijs')).trim(), '25');
    assert.equal(await readFile(path.join(repo(), 'home.md'), 'utf8'), '# Home\n');
    const exported = async (kind: string): Promise<string[]> => {
      const file = path.join(tmp.path, `${kind}-out.json`);
      await runN8n(n8nHome(), 'nk-1', `export:${kind}`, '--all', `--output=${file}`);
      return (JSON.parse(await readFile(file, 'utf8')) as Array<{ id: string }>).map((x) => x.id);
    };
    assert.deepEqual([await exported('workflow'), await exported('credentials')], [['w1w1w1w1w1w1w1w1'], ['c1c1c1c1c1c1c1c1']]);
    assert.ok(!(await readdir(path.join(tmp.path, 'repo'), { recursive: true })).some((f) => f.includes('qk-1')));
  });
});
