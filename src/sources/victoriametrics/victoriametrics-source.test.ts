/**
 * The victoriametrics source against the real server (Debian's victoria-metrics): the
 * conformance suite with stop/start commands, a drill into a throwaway second server, and the
 * pitfalls of the notes: the snapshot's symlinks are followed (its files' bytes are stored) and
 * the server-side snapshot is deleted afterwards.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { IntegrityError, SourceError } from '../../core/errors.ts';
import { compareFingerprints, type ArtifactReader } from '../../core/source.ts';
import { localRunner } from '../../transport/local-runner.ts';
import { memoryArtifacts, testContext } from '../../../test/support/memory-artifacts.ts';
import { freePort, pollUntil } from '../../../test/support/ports.ts';
import { missingBinaries } from '../../../test/support/require.ts';
import { runCommand } from '../../../test/support/run-command.ts';
import { tempDir, type TempDir } from '../../../test/support/tmp.ts';
import { sourceSuite } from '../../../test/suites/source-suite.ts';
import { victoriametricsType } from './victoriametrics-source.ts';

const skip = missingBinaries('victoria-metrics');

interface Vm {
  url: string;
  dataDir: string;
  start: string;
  stop: string;
  kill(): Promise<void>;
}

/** A server started and stopped by shell commands, as a source's start_command/stop_command would. */
async function startVm(tmp: TempDir, extra = ''): Promise<Vm> {
  const port = await freePort();
  const dataDir = path.join(tmp.path, 'vmdata');
  const pidFile = path.join(tmp.path, 'vm.pid');
  const start = `setsid victoria-metrics -storageDataPath='${dataDir}' -httpListenAddr=127.0.0.1:${port} -retentionPeriod=100y ${extra} >>'${tmp.path}/vm.log' 2>&1 </dev/null & echo $! >'${pidFile}'`;
  const stop = `kill -INT "$(cat '${pidFile}')"`;
  const url = `http://127.0.0.1:${port}`;
  const up = async (): Promise<boolean> => (await fetch(`${url}/health`).then((r) => r.ok, () => false));
  await runCommand('bash', ['-c', start]);
  await pollUntil(up, { what: `VictoriaMetrics on ${port}` });
  return {
    url,
    dataDir,
    start,
    stop,
    kill: async () => {
      await runCommand('bash', ['-c', `kill -9 "$(cat '${pidFile}')" 2>/dev/null; true`]);
    },
  };
}

async function seed(vm: Vm): Promise<void> {
  const now = Math.floor(Date.now() / 1000) - 3600;
  const lines: string[] = [];
  for (let i = 0; i < 50; i++) lines.push(`cpu_usage{host="h${i % 5}",core="${i}"} ${i} ${(now - i * 10) * 1000}`, `mem_free{host="h${i % 5}"} ${i * 2} ${(now - i * 15) * 1000}`);
  const r = await fetch(`${vm.url}/api/v1/import/prometheus`, { method: 'POST', body: lines.join('\n') });
  assert.ok(r.ok);
  await fetch(`${vm.url}/internal/force_flush`);
}

function source(vm: Vm, tmp: TempDir) {
  return victoriametricsType.create('metrics', { url: vm.url, data_dir: vm.dataDir, start_command: vm.start, stop_command: vm.stop }, {
    runner: localRunner, secrets: async () => '', tmpDir: path.join(tmp.path, 'work'),
  });
}

describe('victoriametrics source (real server)', { skip }, () => {
  sourceSuite('victoriametrics', async () => {
    const tmp = await tempDir('vm-suite');
    const vm = await startVm(tmp);
    return {
      source: source(vm, tmp),
      seed: () => seed(vm),
      wipe: async () => {
        await fetch(`${vm.url}/api/v1/admin/tsdb/delete_series?match[]=cpu_usage`);
      },
      cleanup: async () => {
        await vm.kill();
        await tmp.cleanup();
      },
    };
  });

  let tmp: TempDir;
  let vm: Vm;
  before(async () => {
    tmp = await tempDir('vm');
    vm = await startVm(tmp);
    await seed(vm);
  });
  after(async () => {
    await vm?.kill();
    await tmp?.cleanup();
  });

  it('stores the bytes behind the snapshot symlinks, deletes the snapshot, verifies, and drills into a second server', async () => {
    const src = source(vm, tmp);
    const arts = await memoryArtifacts();
    const ctx = testContext();
    const out = await src.backup(arts.sink, ctx);
    assert.equal(out.fingerprint.series, 55);
    assert.equal(out.fingerprint.samples, 100);
    const names = arts.reader().list().map((a) => a.name);
    assert.ok(names.some((n) => n.startsWith('data/small/')), names.join(','));
    assert.ok(names.some((n) => n.startsWith('indexdb/')), names.join(','));
    assert.ok(arts.reader().list().filter((a) => a.name.endsWith('.bin')).every((a) => a.size > 0));
    assert.deepEqual(await readdir(path.join(vm.dataDir, 'snapshots')), [], 'the server-side snapshot was left behind');
    assert.deepEqual((await src.verify!(arts.reader(), ctx)).problems, []);

    const target = await src.scratchTarget!(arts.reader(), ctx);
    try {
      await src.restore(arts.reader(), ctx, { to: target.to });
      assert.deepEqual(compareFingerprints(out.fingerprint, await src.fingerprint(ctx, { to: target.to })), []);
    } finally {
      await target.cleanup();
      await target.cleanup();
    }
    await arts.cleanup();
  });

  it('refuses to replace the data dir of a running server without stop_command', async () => {
    const src = victoriametricsType.create('metrics', { url: vm.url, data_dir: vm.dataDir }, { runner: localRunner, secrets: async () => '', tmpDir: tmp.path });
    const arts = await memoryArtifacts();
    await src.backup(arts.sink, testContext());
    const before = await readFile(path.join(vm.dataDir, 'flock.lock')).catch(() => undefined);
    await assert.rejects(src.restore(arts.reader(), testContext()), (err: unknown) => err instanceof SourceError && /is running/.test(err.message) && /stop_command/.test(err.hint ?? ''));
    assert.deepEqual(await readFile(path.join(vm.dataDir, 'flock.lock')).catch(() => undefined), before);
    await arts.cleanup();
  });

  it('a restore that fails midway starts the server again on its old data, with a coded error', async () => {
    const src = source(vm, tmp);
    const arts = await memoryArtifacts();
    const out = await src.backup(arts.sink, testContext());
    const good = arts.reader();
    const broken: ArtifactReader = {
      list: () => good.list(),
      restoreFiles: (d, o) => good.restoreFiles(d, o),
      open: (name) => (name.startsWith('indexdb/') ? (async function* (): AsyncGenerator<Uint8Array> {
        yield Buffer.from('partial');
        throw new IntegrityError(`artifact ${name} does not match its manifest`);
      })() : good.open(name)),
    };
    await assert.rejects(src.restore(broken, testContext()), (err: unknown) => err instanceof IntegrityError);
    assert.deepEqual(compareFingerprints(out.fingerprint, await src.fingerprint(testContext())), [], 'the server is not back on its old data');
    assert.deepEqual((await readdir(tmp.path)).filter((n) => n.includes('lifeboat-restore')), [], 'a staging dir was left behind');
    await arts.cleanup();
  });

  it('passes auth_key to a server with -snapshotAuthKey, and a wrong key never reaches the error', async () => {
    const t2 = await tempDir('vm-auth');
    const guarded = await startVm(t2, '-snapshotAuthKey=right-key-7f3a');
    try {
      await seed(guarded);
      const make = (key: string) => victoriametricsType.create('metrics', { url: guarded.url, data_dir: guarded.dataDir, auth_key: { env: 'K' } }, {
        runner: localRunner, secrets: async () => key, tmpDir: t2.path,
      });
      const arts = await memoryArtifacts();
      await assert.rejects(make('wrong-key-91c2').backup(arts.sink, testContext()), (err: unknown) => {
        assert.ok(err instanceof SourceError, String(err));
        assert.ok(!err.message.includes('wrong-key-91c2') && !JSON.stringify(err.data).includes('wrong-key-91c2'), err.message);
        assert.match(err.hint ?? '', /auth_key/);
        return true;
      });
      const out = await make('right-key-7f3a').backup(arts.sink, testContext());
      assert.equal(out.fingerprint.series, 55);
      assert.deepEqual(await readdir(path.join(guarded.dataDir, 'snapshots')), []);
      await arts.cleanup();
    } finally {
      await guarded.kill();
      await t2.cleanup();
    }
  });
});
