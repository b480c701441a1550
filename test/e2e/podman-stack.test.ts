/**
 * The container transport against Podman's Docker-compatible API end to end through the CLI:
 * PostgreSQL in a Podman container of the store image (found as a compose service by its
 * labels, with a third container stopped around its backup) and a command source in another
 * (by name) are backed up, wiped, restored
 * (pg_restore -j staged inside the container) and drilled with fingerprints equal, while
 * lifeboat's PATH has no PostgreSQL tool and DOCKER_HOST names Podman's socket.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { once } from 'node:events';
import { lifeboat, spawnLifeboat, lastJson as last } from '../support/lifeboat-cli.ts';
import type { StackReport as Report } from '../support/lifeboat-cli.ts';
import { freePort, pollUntil } from '../support/ports.ts';
import { startPodman } from '../support/podman.ts';
import { composeBinary } from '../support/compose-plugin.ts';
import { runCommand } from '../support/run-command.ts';
import type { PodmanEngine } from '../support/podman.ts';
import { tempDir } from '../support/tmp.ts';
import type { TempDir } from '../support/tmp.ts';

const LB_PW = 'podman-repo-pw-2291';
const PG_PW = 'podman-pg-pw-7730';
const IMAGE = 'lifeboat-test/stores:1';
const STORE_IMAGE_DIR = path.join(import.meta.dirname, '..', 'fixtures', 'store-image');
const TOOLS = ['pg_dump', 'pg_dumpall', 'pg_restore', 'psql'];


describe('stores in Podman containers through its Docker-compatible API', () => {
  let pm: PodmanEngine | undefined;
  let tmp: TempDir;
  let cfg: string;
  let port: number;
  const pgName = `lb-pm-pg-${process.pid}`;
  const appName = `lb-pm-app-${process.pid}`;
  const webName = `lb-pm-web-${process.pid}`;
  const hostPath = (process.env.PATH ?? '').split(':').filter((d) => d !== '' && !TOOLS.some((t) => existsSync(path.join(d, t)))).join(':');

  const ok = async (args: string[], input?: string): Promise<string> => {
    const r = await (pm as PodmanEngine).podman(args, { input });
    assert.equal(r.code, 0, `podman ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };
  const psql = (sql: string, db = 'postgres') => ok(['exec', pgName, 'psql', '-X', '-qAt', '-h', '/tmp', '-p', String(port), '-U', 'postgres', '-d', db, '-c', sql]);
  const shopDigest = () => psql("SELECT md5(string_agg(id || ':' || name, ',' ORDER BY id)) FROM items", 'shop');
  const run = (args: string[]) => lifeboat(['-c', cfg, ...args], {
    cwd: tmp.path, env: { PATH: hostPath, DOCKER_HOST: (pm as PodmanEngine).dockerHost, LB_PW, PG_PW },
  });

  before(async (t) => {
    pm = await startPodman(t as never);
    if (!pm) return;
    await pm.ensureBaseImage();
    await pm.buildImage(STORE_IMAGE_DIR, IMAGE);
    tmp = await tempDir('podman');
    port = await freePort();
    const r = await pm.podman(['run', '-d', '--network', 'host', '--name', pgName, '--user', 'postgres', '-e', 'PGPW',
      '--label', 'com.docker.compose.project=omni', '--label', 'com.docker.compose.service=postgres',
      IMAGE, 'bash', '-c',
      'set -e; echo "$PGPW" > /tmp/pw; B=/usr/lib/postgresql/15/bin; $B/initdb -D /tmp/pg -U postgres --pwfile=/tmp/pw --auth-host=scram-sha-256 --auth-local=trust >/dev/null; rm /tmp/pw; '
      + `exec $B/postgres -D /tmp/pg -p ${port} -k /tmp -c listen_addresses=127.0.0.1`], { env: { PGPW: PG_PW } });
    assert.equal(r.code, 0, r.stderr);
    await ok(['run', '-d', '--network', 'none', '--name', appName, IMAGE, 'bash', '-c', 'mkdir -p /srv && echo "runbook v1" > /srv/notes.txt && trap "exit 0" TERM; sleep infinity & wait']);
    await ok(['run', '-d', '--network', 'none', '--name', webName, IMAGE, 'sh', '-c', 'trap "exit 0" TERM; sleep infinity & wait']);
    await pollUntil(async () => (await pm?.podman(['exec', pgName, 'pg_isready', '-q', '-h', '127.0.0.1', '-p', String(port)]))?.code === 0, { timeoutMs: 60_000, what: 'postgres in its Podman container' });
    await psql('CREATE DATABASE shop');
    await psql("CREATE TABLE items (id int primary key, name text); INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 3000) g;", 'shop');
    cfg = path.join(tmp.path, 'lifeboat.yml');
    await writeFile(cfg, `
repository:
  url: ./repo
  password: { env: LB_PW }
state_dir: ./state
sources:
  shop:
    type: postgres
    compose: { project: omni, service: postgres }
    connection: { host: 127.0.0.1, port: ${port}, user: postgres, password: { env: PG_PW } }
    databases: [shop]
    jobs: 2
    stop: [${webName}]
  notes:
    type: command
    container: ${appName}
    backup_command: cat /srv/notes.txt
    restore_command: cat > /srv/notes.txt
`);
  });
  after(async () => {
    await pm?.stop();
    await tmp?.cleanup();
  });

  test('backup, wipe, restore and drill through Podman, fingerprints equal', async (t) => {
    if (!pm) return t.skip('no podman');
    assert.equal((await run(['init'])).code, 0);
    const digest = await shopDigest();
    const started = () => ok(['inspect', '--format', '{{.State.StartedAt}} {{.State.Running}}', webName]);
    const webBefore = await started();
    const b = await run(['backup', '--json']);
    assert.equal(b.code, 0, b.stderr + b.stdout);
    // Stopped around the backup (`stop:`, through Podman's API) and running again.
    const webAfter = await started();
    assert.match(webAfter, / true$/);
    assert.notEqual(webAfter, webBefore);
    assert.deepEqual(last<Report>(b).sources.map((s) => [s.source, s.status]), [['notes', 'ok'], ['shop', 'ok']]);
    assert.ok(!(b.stdout + b.stderr).includes(PG_PW), 'a secret was printed');

    await psql('DROP DATABASE shop');
    await ok(['exec', appName, 'sh', '-c', 'echo wiped > /srv/notes.txt']);
    const r = await run(['restore', '--yes', '--no-safety-snapshot', '--json']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const rr = last<Report>(r);
    assert.equal(rr.status, 'ok', JSON.stringify(rr.sources));
    for (const s of rr.sources) assert.deepEqual(s.fingerprint_diff, [], s.source);
    assert.equal(await shopDigest(), digest);
    assert.equal(await ok(['exec', appName, 'cat', '/srv/notes.txt']), 'runbook v1');
    assert.equal(await ok(['exec', pgName, 'sh', '-c', 'ls -d /tmp/lifeboat-stage.* 2>/dev/null | wc -l']), '0');

    const d = await run(['drill', '--only', 'shop', '--json']);
    assert.equal(d.code, 0, d.stderr + d.stdout);
    assert.deepEqual(last<Report>(d).sources.map((s) => [s.source, s.status, s.cleanup]), [['shop', 'pass', 'done']]);
    assert.equal(await psql("SELECT count(*) FROM pg_database WHERE datname LIKE 'lifeboat_%'"), '0');
  });

  test('a service started by Compose v2 against Podman\'s socket is found by its labels', async (t) => {
    if (!pm) return t.skip('no podman');
    const compose = composeBinary();
    if ('missing' in compose) return t.skip(compose.missing);
    const project = `lbpm${process.pid}`;
    const file = path.join(tmp.path, 'compose.yml');
    await writeFile(file, `services:
  files:
    image: ${IMAGE}
    network_mode: none
    command: ["bash", "-c", "mkdir -p /srv && echo 'compose v1' > /srv/data.txt && trap 'exit 0' TERM; sleep infinity & wait"]
`);
    const dc = (args: string[]) => runCommand(compose.path, ['-p', project, '-f', file, ...args], { env: { ...pm?.env, DOCKER_HOST: pm?.dockerHost }, timeoutMs: 120_000 });
    const up = await dc(['up', '-d']);
    assert.equal(up.code, 0, up.stderr);
    try {
      const labels = await ok(['ps', '--filter', `label=com.docker.compose.project=${project}`, '--format', '{{.Names}}']);
      assert.notEqual(labels, '', 'compose set no com.docker.compose.* labels through Podman');
      const cCfg = path.join(tmp.path, 'compose-lifeboat.yml');
      await writeFile(cCfg, `
repository:
  url: ./repo-c
  password: { env: LB_PW }
state_dir: ./state-c
sources:
  data:
    type: command
    compose: { project: ${project}, service: files }
    backup_command: cat /srv/data.txt
    restore_command: cat > /srv/data.txt
`);
      const c = (args: string[]) => lifeboat(['-c', cCfg, ...args], { cwd: tmp.path, env: { PATH: hostPath, DOCKER_HOST: (pm as PodmanEngine).dockerHost, LB_PW } });
      assert.equal((await c(['init'])).code, 0);
      const b = await c(['backup', '--json']);
      assert.equal(b.code, 0, b.stderr + b.stdout);
      await ok(['exec', labels.split('\n')[0] as string, 'sh', '-c', 'echo wiped > /srv/data.txt']);
      const r = await c(['restore', '--yes', '--no-safety-snapshot', '--json']);
      assert.equal(r.code, 0, r.stderr + r.stdout);
      assert.deepEqual(last<Report>(r).sources.map((s) => [s.source, s.status, s.fingerprint_diff]), [['data', 'ok', []]]);
      assert.equal(await ok(['exec', labels.split('\n')[0] as string, 'cat', '/srv/data.txt']), 'compose v1');
    } finally {
      await dc(['down', '-t', '1']);
    }
  });

  test('SIGTERM during a backup ends the command in the Podman container and starts the stopped one again', async (t) => {
    if (!pm) return t.skip('no podman');
    const slowCfg = path.join(tmp.path, 'slow.yml');
    await writeFile(slowCfg, `
repository:
  url: ./repo
  password: { env: LB_PW }
state_dir: ./state
sources:
  slow:
    type: command
    container: ${appName}
    stop: [${webName}]
    backup_command: sleep 100
    restore_command: cat > /dev/null
`);
    const top = async () => (await (pm as PodmanEngine).podman(['top', appName, 'args'])).stdout;
    const child = spawnLifeboat(['-c', slowCfg, 'backup'], { cwd: tmp.path, env: { PATH: hostPath, DOCKER_HOST: (pm as PodmanEngine).dockerHost, LB_PW } });
    const exited = once(child, 'exit');
    await pollUntil(async () => (await top()).includes('sleep 100'), { timeoutMs: 60_000, what: 'the backup command running' });
    child.kill('SIGTERM');
    const [code] = await exited;
    assert.notEqual(code, 0);
    assert.match(await ok(['inspect', '--format', '{{.State.Running}}', webName]), /^true$/);
    await pollUntil(async () => !(await top()).includes('sleep 100'), { timeoutMs: 15_000, what: 'the command in the container to end' });
  });
});
