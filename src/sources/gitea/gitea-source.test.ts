/**
 * The gitea source against a real Gitea on SQLite (test/support/gitea.ts, built from source):
 * the conformance suite over users, an organisation and two repositories with commits,
 * branches and tags pushed over HTTP; verify; and the pitfalls of the notes: a dump cut short
 * while the command exits 0, Gitea refusing to run as root, a restore while Gitea runs, and
 * the owner of the restored files.
 */
import assert from 'node:assert/strict';
import { chmod, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LifeboatError, SourceError } from '../../core/errors.ts';
import { compareFingerprints } from '../../core/source.ts';
import { localRunner } from '../../transport/local-runner.ts';
import { ok, seedGitea as seed, startGitea, missingGitea, wipeGitea as wipe, type GiteaServer } from '../../../test/support/gitea.ts';
import { memoryArtifacts, testContext } from '../../../test/support/memory-artifacts.ts';
import { tempDir, type TempDir } from '../../../test/support/tmp.ts';
import { sourceSuite } from '../../../test/suites/source-suite.ts';
import type { GiteaConfig } from './gitea-config.ts';
import { DUMP_ARTIFACT, VERSION_ARTIFACT, giteaType } from './gitea-source.ts';

const skip = await missingGitea();
/** As root the test Gitea runs as an unprivileged user; otherwise as the current one. */
const notRoot = process.getuid?.() !== 0 ? 'not root: Gitea runs as the current user' : false;

function makeSource(g: GiteaServer, tmpDir: string, extra: Partial<GiteaConfig> = {}) {
  return giteaType.create('code', {
    bin: g.bin, config: g.config, work_path: g.workPath, user: g.user?.name, url: g.url, token: { env: 'GITEA_TOKEN' },
    stop_command: g.stopCommand, start_command: g.startCommand, ...extra,
  }, { runner: localRunner, secrets: async () => g.token, tmpDir });
}

describe('gitea source (real Gitea on SQLite)', { skip }, () => {
  sourceSuite('gitea', async () => {
    const g = await startGitea();
    const tmp = await tempDir('gitea-suite');
    return {
      source: makeSource(g, tmp.path),
      seed: () => seed(g, tmp.path),
      wipe: () => wipe(g, tmp.path),
      cleanup: async () => { await g.stop(); await tmp.cleanup(); },
    };
  });

  let g: GiteaServer;
  let tmp: TempDir;
  before(async () => {
    g = await startGitea();
    tmp = await tempDir('gitea');
    await seed(g, tmp.path);
  });
  after(async () => {
    await g?.stop();
    await tmp?.cleanup();
  });

  it('backs up users, orgs and every repository\'s refs; verify reads the dump; no token anywhere', async () => {
    const source = makeSource(g, tmp.path);
    const arts = await memoryArtifacts();
    const ctx = testContext();
    const out = await source.backup(arts.sink, ctx);
    assert.equal(out.fingerprint.users, 3); // lbadmin, alice, bob (the org counts apart)
    assert.equal(out.fingerprint.orgs, 1);
    assert.equal(out.fingerprint.repositories, 2);
    const refs = out.fingerprint.refs as Record<string, { refs: number }>;
    assert.deepEqual(Object.keys(refs), ['lbadmin/app', 'ops/infra']);
    assert.equal(refs['ops/infra']?.refs, 3); // main, feature, v1
    assert.match(out.serverVersion ?? '', /^Gitea 1\./);
    assert.match(out.commands[0] ?? '', /dump --file - --type tar/);

    const v = await source.verify!(arts.reader(), ctx);
    assert.deepEqual(v.problems, []);
    assert.match(v.checks[0] ?? '', /2 bare repositories, gitea-db\.sql, app\.ini, complete/);

    const text = JSON.stringify([out, v, ctx.infos, ctx.warnings]);
    assert.ok(!text.includes(g.token), 'the token leaked into the outcome or the logs');

    const dump = arts.get(DUMP_ARTIFACT) as Buffer;
    arts.set(DUMP_ARTIFACT, dump.subarray(0, Math.floor(dump.length / 2)));
    const cut = await source.verify!(arts.reader(), ctx);
    assert.ok(cut.problems.some((p) => /cut short/.test(p)), cut.problems.join('\n'));
    await arts.cleanup();
  });

  it('drills the dump into a scratch Gitea with fingerprints equal, leaving the live instance and nothing else behind', async () => {
    const source = makeSource(g, tmp.path);
    const arts = await memoryArtifacts();
    const ctx = testContext();
    const out = await source.backup(arts.sink, ctx);
    const live = await source.fingerprint(ctx);
    const target = await source.scratchTarget!(arts.reader(), ctx);
    try {
      assert.ok(!target.to.startsWith(g.workPath));
      await source.restore(arts.reader(), ctx, { to: target.to });
      assert.deepEqual(compareFingerprints(out.fingerprint, await source.fingerprint(ctx, { to: target.to })), []);
    } finally {
      await target.cleanup();
      await target.cleanup();
    }
    await assert.rejects(stat(target.to), { code: 'ENOENT' });
    assert.deepEqual(compareFingerprints(live, await source.fingerprint(ctx)), [], 'the drill changed the live instance');
    assert.ok(!JSON.stringify([ctx.infos, ctx.warnings, target.description]).includes(g.token));
    await arts.cleanup();
  });

  it('refuses a dump that exits 0 but is cut short, and stores nothing', async () => {
    const wrapper = path.join(g.dir, 'gitea-cut.sh'); // where Gitea's user can run it
    // As a broken pipe or a wrapper would: the shell's status is head's, 0.
    await writeFile(wrapper, `#!/bin/sh\n'${g.bin}' "$@" | head -c 20000\n`);
    await chmod(wrapper, 0o755);
    const arts = await memoryArtifacts();
    await assert.rejects(makeSource(g, tmp.path, { bin: wrapper }).backup(arts.sink, testContext()), (err: unknown) => {
      assert.ok(err instanceof SourceError, String(err));
      assert.match(err.message, /no end-of-archive blocks: the dump is incomplete/);
      return true;
    });
    assert.equal(arts.get(DUMP_ARTIFACT), undefined);
    await arts.cleanup();
  });

  it('as root without user, Gitea refuses to run and the error names the user key', { skip: notRoot }, async () => {
    const arts = await memoryArtifacts();
    await assert.rejects(makeSource(g, tmp.path, { user: undefined }).backup(arts.sink, testContext()), (err: unknown) => {
      assert.ok(err instanceof LifeboatError && err.code === 'source', String(err));
      assert.match(err.hint ?? '', /set user to Gitea's RUN_USER/);
      return true;
    });
    await arts.cleanup();
  });

  it('refuses to restore into a running Gitea without stop_command, and changes nothing', async () => {
    const source = makeSource(g, tmp.path);
    const arts = await memoryArtifacts();
    const out = await source.backup(arts.sink, testContext());
    await g.api('POST', '/admin/users', { username: 'carol', email: 'carol@example.test', password: 'pw-carol-Secret1', must_change_password: false });
    const before = await source.fingerprint(testContext());
    await assert.rejects(makeSource(g, tmp.path, { stop_command: undefined, start_command: undefined }).restore(arts.reader(), testContext()), (err: unknown) => {
      assert.ok(err instanceof SourceError, String(err));
      assert.match(err.message, /is running; it must be stopped/);
      return true;
    });
    assert.deepEqual(compareFingerprints(before, await source.fingerprint(testContext())), []);
    assert.notDeepEqual(compareFingerprints(out.fingerprint, before), []);
    await arts.cleanup();
  });

  it('refuses a dump of a newer Gitea before it stops anything (an older Gitea cannot use its database)', async () => {
    const source = makeSource(g, tmp.path);
    const arts = await memoryArtifacts();
    const out = await source.backup(arts.sink, testContext());
    assert.match(arts.get(VERSION_ARTIFACT)?.toString() ?? '', /"version":"1\.26\./);
    arts.set(VERSION_ARTIFACT, Buffer.from('{"version":"99.1.0"}\n'));
    await assert.rejects(source.restore(arts.reader(), testContext()), (err: unknown) => {
      assert.ok(err instanceof SourceError, String(err));
      assert.match(err.message, /made by Gitea 99\.1\.0, and .* is the older 1\.26\.0/);
      assert.match(err.hint ?? '', /install Gitea 99\.1\.0 or newer/);
      return true;
    });
    assert.deepEqual(compareFingerprints(out.fingerprint, await source.fingerprint(testContext())), [], 'Gitea was stopped or changed');
    await arts.cleanup();
  });

  it('gives the restored files to Gitea\'s user, and Gitea serves them (a push works after the restore)', { skip: notRoot }, async () => {
    const source = makeSource(g, tmp.path);
    const arts = await memoryArtifacts();
    const out = await source.backup(arts.sink, testContext());
    await source.restore(arts.reader(), testContext());
    for (const p of ['data', 'repositories', 'data/gitea.db', 'repositories/ops/infra.git/HEAD', 'custom/conf/app.ini']) {
      assert.equal((await stat(path.join(g.workPath, p))).uid, g.user?.uid, `${p} is not owned by ${g.user?.name}`);
    }
    assert.deepEqual(compareFingerprints(out.fingerprint, await source.fingerprint(testContext())), []);
    // The hooks were regenerated: a push after the restore updates Gitea's view of the refs.
    const dir = path.join(tmp.path, 'ops-infra');
    await writeFile(path.join(dir, 'after.txt'), 'after the restore\n');
    await ok(g.git(dir, ['add', '.']), 'git add');
    await ok(g.git(dir, ['commit', '-q', '-m', 'after the restore']), 'git commit');
    await ok(g.git(dir, ['push', '-q', `${g.url}/ops/infra.git`, 'main']), 'git push after the restore');
    const branch = await g.api<{ commit: { message: string } }>('GET', '/repos/ops/infra/branches/main');
    assert.match(branch.commit.message, /after the restore/);
    await arts.cleanup();
  });
});
