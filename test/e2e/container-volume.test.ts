/**
 * `type: volume` end to end against a real engine: a named volume used by a running
 * container is backed up through a short-lived helper container (the user's image, read-only
 * mount, no network), wiped, restored while its user is stopped (started again afterwards)
 * and drilled into a scratch dir of the helper, fingerprints equal and no helper left.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { lifeboat, lastJson as last } from '../support/lifeboat-cli.ts';
import type { StackReport as Report } from '../support/lifeboat-cli.ts';
import { startDockerEngine } from '../support/docker-engine.ts';
import type { DockerEngine } from '../support/docker-engine.ts';
import { tempDir } from '../support/tmp.ts';
import type { TempDir } from '../support/tmp.ts';

const LB_PW = 'container-volume-repo-pw-8830';
const IMAGE = 'lifeboat-test/stores:1';
const STORE_IMAGE_DIR = path.join(import.meta.dirname, '..', 'fixtures', 'store-image');


describe('a named volume as a source', () => {
  let engine: DockerEngine | undefined;
  let tmp: TempDir;
  let cfg: string;
  const app = `lb-e2e-vol-app-${process.pid}`;
  const volume = `lb-e2e-uploads-${process.pid}`;

  const dockerOk = async (args: string[]): Promise<string> => {
    const r = await (engine as DockerEngine).docker(args);
    assert.equal(r.code, 0, `docker ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };
  const sh = (script: string) => dockerOk(['exec', app, 'sh', '-c', script]);
  const listing = () => sh('cd /uploads && find . -mindepth 1 | sort | while read -r f; do '
    + 'printf "%s %s\\n" "$(stat -c "%n %F %u:%g %a %Y" "$f")" "$( [ -f "$f" ] && sha256sum < "$f" | cut -c1-16 )"; done');
  const helpers = () => dockerOk(['ps', '-aq', '--filter', 'label=org.lifeboat.helper']);
  const run = (args: string[], file = cfg) => lifeboat(['-c', file, ...args], { cwd: tmp.path, env: { PATH: process.env.PATH, DOCKER_HOST: (engine as DockerEngine).dockerHost, LB_PW } });
  const started = () => dockerOk(['inspect', '--format', '{{.State.StartedAt}} {{.State.Running}}', app]);

  before(async (t) => {
    engine = await startDockerEngine(t as never);
    if (!engine) return;
    await engine.ensureBaseImage();
    await engine.buildImage(STORE_IMAGE_DIR, IMAGE);
    tmp = await tempDir('container-volume');
    await dockerOk(['volume', 'create', volume]);
    await dockerOk(['run', '-d', '--network', 'none', '--name', app, '-v', `${volume}:/uploads`, IMAGE, 'sh', '-c', 'trap "exit 0" TERM; sleep infinity & wait']);
    await sh('set -e; cd /uploads; mkdir -p a/b; seq 1 30000 > a/big.txt; echo photo > a/b/p.jpg; echo x > skip.tmp; chown -R 1000:1000 a; chmod 600 a/b/p.jpg; touch -d "2022-01-02 03:04:05" a/big.txt');
    cfg = path.join(tmp.path, 'lifeboat.yml');
    await writeFile(cfg, `
repository:
  url: ./repo
  password: { env: LB_PW }
state_dir: ./state
sources:
  uploads:
    type: volume
    volume: ${volume}
    exclude: ['*.tmp']
`);
  });
  after(async () => {
    if (!engine) return;
    await engine.docker(['rm', '-f', app]);
    await engine.docker(['volume', 'rm', '-f', volume]);
    await engine.stop();
    await tmp?.cleanup();
  });

  test('backup, wipe, restore with its user stopped and started again, drill; no helper left', async (t) => {
    if (!engine) return t.skip('no engine');
    const want = await listing();
    assert.equal((await run(['init'])).code, 0);
    const b = await run(['backup', '--json']);
    assert.equal(b.code, 0, b.stderr + b.stdout);
    assert.deepEqual(last<Report>(b).sources.map((s) => [s.source, s.status]), [['uploads', 'ok']]);
    assert.equal(await helpers(), '');
    const ls = await run(['ls', 'latest']);
    assert.match(ls.stdout, new RegExp(`^/volumes/${volume}/a/b/p\\.jpg$`, 'm'));
    assert.doesNotMatch(ls.stdout, /skip\.tmp/);

    await sh('rm -rf /uploads/a && echo junk > /uploads/junk.txt');
    const before = await started();
    const r = await run(['restore', '--yes', '--no-safety-snapshot', '--json']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const rr = last<Report>(r);
    assert.equal(rr.status, 'ok', JSON.stringify(rr.sources));
    assert.deepEqual(rr.sources[0]?.fingerprint_diff, []);
    const after = await started();
    assert.match(after, / true$/);
    assert.notEqual(after, before, 'the user of the volume was not stopped and started again');
    // junk.txt is gone; the excluded skip.tmp was never touched.
    assert.equal(await listing(), want, 'the volume differs from the backup');
    assert.equal(await helpers(), '');

    const d = await run(['drill', '--json']);
    assert.equal(d.code, 0, d.stderr + d.stdout);
    assert.deepEqual(last<Report>(d).sources.map((s) => [s.source, s.status, s.cleanup]), [['uploads', 'pass', 'done']]);
    assert.equal(await helpers(), '');
  });

  test('a restore that fails after stopping the volume\'s user still starts it again', async (t) => {
    if (!engine) return t.skip('no engine');
    // The snapshot of the first test, restored with a helper image the engine lacks: the
    // user is stopped, the helper cannot be made, the user is started again.
    const failing = path.join(tmp.path, 'failing.yml');
    await writeFile(failing, `${await readFile(cfg, 'utf8')}    helper_image: local/not-there:2\n`);
    const before = await started();
    const r = await run(['restore', '--yes', '--no-safety-snapshot', '--json'], failing);
    assert.notEqual(r.code, 0);
    assert.match(r.stdout + r.stderr, /image local\/not-there:2 is not on the engine/);
    const after = await started();
    assert.match(after, / true$/);
    assert.notEqual(after, before, 'the user was never stopped: the test proves nothing');
    assert.equal(await helpers(), '');
  });

  test('a helper image that is not on the engine: one line naming it, and the user keeps running', async (t) => {
    if (!engine) return t.skip('no engine');
    const bad = path.join(tmp.path, 'bad.yml');
    await writeFile(bad, `${(await readFile(cfg, 'utf8')).replace('./repo', './repo-bad')}    helper_image: local/not-there:1\n`);
    assert.equal((await run(['init'], bad)).code, 0);
    const b = await run(['backup', '--json'], bad);
    assert.notEqual(b.code, 0);
    assert.match(b.stdout + b.stderr, /image local\/not-there:1 is not on the engine/);
    assert.match(await started(), / true$/);
    assert.equal(await helpers(), '');
  });
});
