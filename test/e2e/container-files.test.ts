/**
 * A files source whose paths are in a container (`container:`), end to end through the CLI
 * against a real engine: the paths, a named volume mounted inside them included, are backed
 * up with their metadata (owner, mode, mtime, symlinks), wiped, restored in place (staged and
 * swapped inside the container's filesystem, the volume's own content swapped within it) and
 * drilled into a scratch dir in the container that is removed afterwards, fingerprints equal.
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

const LB_PW = 'container-files-repo-pw-6102';
const IMAGE = 'lifeboat-test/stores:1';
const STORE_IMAGE_DIR = path.join(import.meta.dirname, '..', 'fixtures', 'store-image');


describe('files in a container, by its paths in there', () => {
  let engine: DockerEngine | undefined;
  let tmp: TempDir;
  let cfg: string;
  const name = `lb-e2e-files-${process.pid}`;
  const volume = `lb-e2e-files-vol-${process.pid}`;

  const dockerOk = async (args: string[]): Promise<string> => {
    const r = await (engine as DockerEngine).docker(args);
    assert.equal(r.code, 0, `docker ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };
  const sh = (script: string) => dockerOk(['exec', name, 'sh', '-c', script]);
  /** Every entry under /srv/data with type, owner, mode, mtime and content hash (or link target). */
  const listing = () => sh('cd /srv/data && find . -path ./app/cache -prune -o -print | sort | while read -r f; do '
    + 'printf "%s %s %s\\n" "$(stat -c "%n %F %u:%g %a %Y" "$f")" "$( [ -L "$f" ] && readlink "$f" || { [ -f "$f" ] && sha256sum < "$f" | cut -c1-16; } )"; done');
  const run = (args: string[]) => lifeboat(['-c', cfg, ...args], { cwd: tmp.path, env: { PATH: process.env.PATH, DOCKER_HOST: (engine as DockerEngine).dockerHost, LB_PW } });

  before(async (t) => {
    engine = await startDockerEngine(t as never);
    if (!engine) return;
    await engine.ensureBaseImage();
    await engine.buildImage(STORE_IMAGE_DIR, IMAGE);
    tmp = await tempDir('container-files');
    await dockerOk(['volume', 'create', volume]);
    await dockerOk(['run', '-d', '--network', 'none', '--name', name, '-v', `${volume}:/srv/data/vol`, IMAGE, 'sh', '-c', 'trap "exit 0" TERM; sleep infinity & wait']);
    await sh('set -e; cd /srv/data; mkdir -p app/cache conf; seq 1 20000 > app/big.txt; echo "key: v1" > conf/app.yml; echo scratch > app/x.tmp; '
      + 'echo cached > app/cache/c.bin; ln -s conf/app.yml current.yml; echo "in the volume" > vol/data.txt; mkdir vol/sub; echo deep > vol/sub/deep.txt; '
      + 'chown -R 1234:2345 app conf; chmod 640 conf/app.yml; chmod 750 app; chown 999:999 vol/data.txt; '
      + 'touch -d "2021-03-04 05:06:07" app/big.txt conf/app.yml vol/data.txt');
    cfg = path.join(tmp.path, 'lifeboat.yml');
    await writeFile(cfg, `
repository:
  url: ./repo
  password: { env: LB_PW }
state_dir: ./state
sources:
  data:
    type: files
    container: ${name}
    paths: [/srv/data]
    exclude: ['*.tmp', /srv/data/app/cache]
`);
  });
  after(async () => {
    if (!engine) return;
    await engine.docker(['rm', '-f', name]);
    await engine.docker(['volume', 'rm', '-f', volume]);
    await engine.stop();
    await tmp?.cleanup();
  });

  test('backup, wipe, restore and drill: metadata, the volume inside and the excluded entries as they were', async (t) => {
    if (!engine) return t.skip('no engine');
    const want = await listing();
    assert.match(want, /\.\/conf\/app\.yml regular file 1234:2345 640 1614834367/);
    assert.match(want, /\.\/current\.yml symbolic link 0:0 777 \d+ conf\/app\.yml/);
    assert.equal((await run(['init'])).code, 0);
    const b = await run(['backup', '--json']);
    assert.equal(b.code, 0, b.stderr + b.stdout);
    assert.deepEqual(last<Report>(b).sources.map((s) => [s.source, s.status]), [['data', 'ok']]);
    // Stored under the container's paths, excluded entries left out.
    const ls = await run(['ls', 'latest']);
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, /^\/srv\/data\/vol\/sub\/deep\.txt$/m);
    assert.doesNotMatch(ls.stdout, /x\.tmp|cache\/c\.bin|\/proc\//);

    await sh('cd /srv/data && rm -rf conf current.yml vol/sub && echo changed > app/big.txt && echo new > vol/new.txt && echo kept > app/y.tmp');
    const r = await run(['restore', '--yes', '--no-safety-snapshot', '--json']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const rr = last<Report>(r);
    assert.equal(rr.status, 'ok', JSON.stringify(rr.sources));
    assert.deepEqual(rr.sources[0]?.fingerprint_diff, []);
    // Excluded entries are never touched: the new .tmp stays, the cache too.
    assert.equal(await sh('cat /srv/data/app/y.tmp /srv/data/app/cache/c.bin; ls -A /srv/data | grep -c lifeboat || true'), 'kept\ncached\n0');
    // The two places swapped entry by entry (the path holding excluded entries, the volume's
    // mount point) are the same directories, their mtime that of the swap, as in a local restore.
    const placesMtime = (l: string) => l.replace(/^(\.|\.\/vol) directory (\S+ \d+) \d+/gm, '$1 directory $2 T');
    assert.equal(placesMtime((await listing()).replace(/\n.*y\.tmp.*/, '')), placesMtime(want));
    // The volume was replaced within itself: still mounted, new file gone.
    assert.equal(await sh('test -e /srv/data/vol/new.txt && echo left; grep -c " /srv/data/vol " /proc/self/mountinfo'), '1');

    const d = await run(['drill', '--json']);
    assert.equal(d.code, 0, d.stderr + d.stdout);
    assert.deepEqual(last<Report>(d).sources.map((s) => [s.source, s.status, s.cleanup]), [['data', 'pass', 'done']]);
    assert.equal(await sh('ls -d /tmp/lifeboat-* 2>/dev/null | wc -l'), '0');
  });

  test('a path missing in the container: one line naming it and the container', async (t) => {
    if (!engine) return t.skip('no engine');
    const bad = path.join(tmp.path, 'missing.yml');
    await writeFile(bad, (await readFile(cfg, 'utf8')).replace('paths: [/srv/data]', 'paths: [/srv/nothing]').replace('./repo', './repo-missing'));
    const m = (args: string[]) => lifeboat(['-c', bad, ...args], { cwd: tmp.path, env: { PATH: process.env.PATH, DOCKER_HOST: (engine as DockerEngine).dockerHost, LB_PW } });
    assert.equal((await m(['init'])).code, 0);
    const b = await m(['backup', '--json']);
    assert.notEqual(b.code, 0);
    assert.match(b.stdout + b.stderr, new RegExp(`/srv/nothing in container ${name} cannot be read`));
    assert.doesNotMatch(b.stdout + b.stderr, /\/proc\/\d+\/root/);
  });
});
