/**
 * The gitea source through the container transport, against a real Gitea and a real Docker
 * engine: every command (gitea dump, the restore script with tar and sqlite3, su to Gitea's
 * user, gitea admin regenerate hooks, the drill's scratch Gitea) runs inside a container that
 * shares Gitea's files (bind mounts at the same paths), its network and its pid namespace, as
 * a Gitea container would; nothing runs on the host but lifeboat. Seed, backup, wipe, restore
 * and drill with fingerprints equal.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { compareFingerprints } from '../../src/core/source.ts';
import { giteaType } from '../../src/sources/gitea/gitea-source.ts';
import { createContainerRunner } from '../../src/transport/container-runner.ts';
import { DockerApi, dockerSocketPath } from '../../src/transport/docker-api.ts';
import { startDockerEngine, type DockerEngine } from '../support/docker-engine.ts';
import { missingGitea, seedGitea, startGitea, wipeGitea, type GiteaServer } from '../support/gitea.ts';
import { memoryArtifacts, testContext } from '../support/memory-artifacts.ts';
import { tempDir, type TempDir } from '../support/tmp.ts';

const STORE_IMAGE = 'lifeboat-test/stores:1';
const IMAGE = 'lifeboat-test/gitea-tools:1';
const fixture = (name: string): string => path.join(import.meta.dirname, '..', 'fixtures', name);
const skip = await missingGitea();

describe('gitea source in a container', { skip }, () => {
  let engine: DockerEngine | undefined;
  let g: GiteaServer;
  let tmp: TempDir;
  const name = `lb-gitea-${process.pid}`;

  before(async (t) => {
    engine = await startDockerEngine(t as never);
    if (!engine) return;
    await engine.ensureBaseImage();
    await engine.buildImage(fixture('store-image'), STORE_IMAGE);
    await engine.buildImage(fixture('gitea-image'), IMAGE);
    g = await startGitea();
    tmp = await tempDir('gitea-container');
    const r = await engine.docker(['run', '-d', '--network', 'host', '--pid', 'host', '-v', `${g.dir}:${g.dir}`, '--name', name,
      IMAGE, 'sh', '-c', 'trap "exit 0" TERM; sleep infinity & wait']);
    assert.equal(r.code, 0, r.stderr);
  });
  after(async () => {
    await engine?.docker(['rm', '-f', name]);
    await engine?.stop();
    await g?.stop();
    await tmp?.cleanup();
  });

  test('backs up, wipes, restores and drills through the container with fingerprints equal', async (t) => {
    if (!engine) return t.skip('no engine');
    const runner = createContainerRunner(new DockerApi(dockerSocketPath({ DOCKER_HOST: engine.dockerHost })), { container: name });
    const source = giteaType.create('code', {
      bin: g.bin, config: g.config, work_path: g.workPath, user: g.user?.name, url: g.url, token: { env: 'GITEA_TOKEN' },
      stop_command: g.stopCommand, start_command: g.startCommand,
    }, { runner, secrets: async () => g.token, tmpDir: tmp.path });
    await seedGitea(g, tmp.path);
    const arts = await memoryArtifacts();
    const ctx = testContext();
    const out = await source.backup(arts.sink, ctx);
    assert.equal(out.fingerprint.repositories, 2);
    assert.deepEqual((await source.verify!(arts.reader(), ctx)).problems, []);

    await wipeGitea(g, tmp.path);
    assert.notDeepEqual(compareFingerprints(out.fingerprint, await source.fingerprint(ctx)), []);
    await source.restore(arts.reader(), ctx);
    assert.deepEqual(compareFingerprints(out.fingerprint, await source.fingerprint(ctx)), []);

    const target = await source.scratchTarget!(arts.reader(), ctx);
    try {
      await source.restore(arts.reader(), ctx, { to: target.to });
      assert.deepEqual(compareFingerprints(out.fingerprint, await source.fingerprint(ctx, { to: target.to })), []);
    } finally {
      await target.cleanup();
    }
    // The scratch dir was in the container's /tmp: gone there too.
    const left = await engine.docker(['exec', name, 'sh', '-c', `test -e '${target.to}' && echo left || echo gone`]);
    assert.equal(left.stdout.trim(), 'gone');
    await arts.cleanup();
  });
});
