// The command source: the conformance suite with and without a fingerprint_command, and the
// failure cases of a shell escape hatch: a dump dying mid-stream, a restore command leaving
// early, a backup that cannot be read, secrets echoed on stderr, cancellation, `to`.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { LifeboatError } from '../../core/errors.ts';
import type { ArtifactReader, ArtifactSink } from '../../core/source.ts';
import { compareFingerprints } from '../../core/source.ts';
import { localRunner } from '../../transport/local-runner.ts';
import { memoryArtifacts, testContext } from '../../../test/support/memory-artifacts.ts';
import { tempDir } from '../../../test/support/tmp.ts';
import { sourceSuite } from '../../../test/suites/source-suite.ts';
import type { SecretResolver, SourceDeps } from '../source-kit.ts';
import { commandConfigSchema } from './command-config.ts';
import type { CommandConfig } from './command-config.ts';
import { commandType } from './command-source.ts';

const SECRET = `s3cr3t-${randomBytes(8).toString('hex')}`;
const secrets: SecretResolver = async (ref) => {
  if ('env' in ref && ref.env === 'TEST_TOKEN') return SECRET;
  throw new Error('unknown secret');
};
const deps = (tmpDir: string): SourceDeps => ({ runner: localRunner, secrets, tmpDir });
const make = (tmpDir: string, config: Record<string, unknown>) =>
  commandType.create('store', commandConfigSchema.parse(config) as CommandConfig, deps(tmpDir));

/** A LifeboatError with this code; more checks in `also`. */
const coded = (code: string, also: (err: LifeboatError) => void = () => undefined) => (err: unknown): boolean => {
  assert.ok(err instanceof LifeboatError, `expected a LifeboatError, got ${String(err)}`);
  assert.equal(err.code, code, err.message);
  also(err);
  return true;
};

// A file stands in for the store; the commands dump it, load it and describe it.
for (const withFingerprintCommand of [true, false]) {
  sourceSuite(`command (${withFingerprintCommand ? 'fingerprint_command' : 'artifact hash'})`, async () => {
    const tmp = await tempDir('command');
    const data = path.join(tmp.path, 'store.bin');
    const source = make(tmp.path, {
      backup_command: 'cat "$DATA"',
      restore_command: 'cat > "$DATA.new" && mv "$DATA.new" "$DATA"',
      ...(withFingerprintCommand ? { fingerprint_command: 'cksum < "$DATA"' } : {}),
      artifact: 'store/data.bin',
      env: { DATA: data },
    });
    return {
      source,
      seed: () => writeFile(data, randomBytes(300_000)),
      wipe: () => writeFile(data, 'emptied'),
      cleanup: () => tmp.cleanup(),
    };
  });
}

describe('command source', () => {
  test('config: artifact names stay relative, env names are names, unknown keys fail', () => {
    const base = { backup_command: 'true', restore_command: 'true' };
    for (const artifact of ['../x', '/abs', 'a/../b', 'a//b', './a', '']) {
      assert.equal(commandConfigSchema.safeParse({ ...base, artifact }).success, false, artifact);
    }
    assert.equal(commandConfigSchema.safeParse({ ...base, artifact: 'vault/raft.snap' }).success, true);
    assert.equal(commandConfigSchema.safeParse({ ...base, env: { 'BAD-NAME': 'x' } }).success, false);
    assert.equal(commandConfigSchema.safeParse({ ...base, secret_env: { TOKEN: 'inline-secret' } }).success, false);
    assert.equal(commandConfigSchema.safeParse({ ...base, command: 'x' }).success, false);
  });

  test('a pipeline fails when its producer fails (pipefail), not only when its last command does', async (t) => {
    const tmp = await tempDir('command');
    const arts = await memoryArtifacts();
    t.after(() => Promise.all([arts.cleanup(), tmp.cleanup()]));
    const piped = make(tmp.path, { backup_command: '{ echo partial; exit 4; } | gzip -c', restore_command: 'cat >/dev/null' });
    await assert.rejects(piped.backup(arts.sink, testContext()), coded('source', (err) => assert.equal(err.data.exitCode, 4)));
  });

  test('an empty backup_command output fails the backup unless allow_empty is set', async (t) => {
    const tmp = await tempDir('command');
    const arts = await memoryArtifacts();
    t.after(() => Promise.all([arts.cleanup(), tmp.cleanup()]));
    const empty = { backup_command: 'true', restore_command: 'cat >/dev/null' };
    await assert.rejects(make(tmp.path, empty).backup(arts.sink, testContext()), coded('source', (err) => {
      assert.match(err.message, /^source store: backup_command exited with code 0 but printed nothing/);
      assert.match(err.hint ?? '', /allow_empty: true/);
    }));
    const ok = await make(tmp.path, { ...empty, allow_empty: true }).backup(arts.sink, testContext());
    assert.deepEqual(ok.fingerprint, { artifact: 'stdout', size: 0, sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' });
  });

  test('a dump failing mid-stream rejects with its exit code and stderr tail', async (t) => {
    const tmp = await tempDir('command');
    const arts = await memoryArtifacts();
    t.after(() => Promise.all([arts.cleanup(), tmp.cleanup()]));
    const source = make(tmp.path, {
      backup_command: 'head -c 1000000 /dev/urandom; echo "first line" >&2; echo "export failed at table users" >&2; exit 3',
      restore_command: 'cat >/dev/null',
    });
    await assert.rejects(source.backup(arts.sink, testContext()), coded('source', (err) => {
      assert.equal(err.data.exitCode, 3);
      assert.match(err.message, /backup_command exited with code 3/);
      assert.match(err.message, /export failed at table users/);
    }));
    // The stream itself reached the sink in full: only the exit status tells it was broken.
    assert.equal(arts.get('stdout')?.length, 1_000_000);
  });

  test('a dump killed by a signal rejects naming the signal', async (t) => {
    const tmp = await tempDir('command');
    const arts = await memoryArtifacts();
    t.after(() => Promise.all([arts.cleanup(), tmp.cleanup()]));
    const source = make(tmp.path, { backup_command: 'echo partial; kill -KILL $$', restore_command: 'true' });
    await assert.rejects(source.backup(arts.sink, testContext()), coded('source', (err) => {
      assert.equal(err.data.signal, 'SIGKILL');
      assert.match(err.message, /killed by SIGKILL/);
    }));
  });

  test('secret_env reaches the command through env, and never an error, hint, data or command line', async (t) => {
    const tmp = await tempDir('command');
    const arts = await memoryArtifacts();
    t.after(() => Promise.all([arts.cleanup(), tmp.cleanup()]));
    const ok = make(tmp.path, { backup_command: 'printf %s "$TOKEN"', restore_command: 'true', secret_env: { TOKEN: { env: 'TEST_TOKEN' } } });
    const outcome = await ok.backup(arts.sink, testContext());
    assert.equal(arts.get('stdout')?.toString(), SECRET);
    assert.ok(!JSON.stringify(outcome).includes(SECRET));

    const leaky = make(tmp.path, {
      backup_command: 'echo "auth failed for token $TOKEN (env: $(env | grep TOKEN))" >&2; exit 1',
      restore_command: 'echo "still $TOKEN" >&2; exit 2',
      fingerprint_command: 'echo "$TOKEN" >&2; exit 5',
      secret_env: { TOKEN: { env: 'TEST_TOKEN' } },
    });
    const noSecret = (err: LifeboatError): void => {
      for (const text of [err.message, err.hint ?? '', JSON.stringify(err.data), String(err.stack)]) assert.ok(!text.includes(SECRET), text);
      assert.match(err.message, /\*\*\*/); // the echoed secret was there, masked
    };
    await assert.rejects(leaky.backup(arts.sink, testContext()), coded('source', noSecret));
    await assert.rejects(leaky.fingerprint(testContext()), coded('source', noSecret));
    arts.set('stdout', Buffer.from('x'));
    await assert.rejects(leaky.restore(arts.reader(), testContext()), coded('source', noSecret));
  });

  test('a restore command that exits early: non-zero fails with its status, zero warns', async (t) => {
    const tmp = await tempDir('command');
    const arts = await memoryArtifacts();
    t.after(() => Promise.all([arts.cleanup(), tmp.cleanup()]));
    arts.set('stdout', randomBytes(1_000_000)); // far more than a pipe buffer
    const failing = make(tmp.path, { backup_command: 'true', restore_command: 'head -c 10 >/dev/null; echo "bad header" >&2; exit 4' });
    await assert.rejects(failing.restore(arts.reader(), testContext()), coded('source', (err) => {
      assert.equal(err.data.exitCode, 4);
      assert.match(err.message, /before reading the whole backup/);
      assert.match(err.message, /bad header/);
    }));
    const lax = make(tmp.path, { backup_command: 'true', restore_command: 'head -c 10 >/dev/null' });
    const ctx = testContext();
    await lax.restore(arts.reader(), ctx);
    assert.match(ctx.warnings.join('\n'), /before reading the whole backup/);
  });

  test('an unreadable backup kills the restore command before it can finish its work', async (t) => {
    const tmp = await tempDir('command');
    t.after(() => tmp.cleanup());
    const out = path.join(tmp.path, 'out');
    // The "commit" (the marker file) must only happen after a complete input.
    const source = make(tmp.path, { backup_command: 'true', restore_command: 'cat > "$OUT" && echo committed > "$OUT.ok"', env: { OUT: out } });
    const damaged: ArtifactReader = {
      list: () => [{ name: 'stdout', size: 3 * 65536, sha256: '' }],
      async *open() {
        yield Buffer.alloc(65536, 1);
        yield Buffer.alloc(65536, 2);
        throw new LifeboatError('integrity', 'blob 1234 of stdout does not match its hash');
      },
      restoreFiles: () => Promise.reject(new Error('no tree')),
    };
    await assert.rejects(source.restore(damaged, testContext()), coded('integrity'));
    await assert.rejects(stat(`${out}.ok`), { code: 'ENOENT' });
  });

  test('cancelling a running backup stops the command and rejects as cancelled', async (t) => {
    const tmp = await tempDir('command');
    const arts = await memoryArtifacts();
    t.after(() => Promise.all([arts.cleanup(), tmp.cleanup()]));
    const ac = new AbortController();
    // The sink aborts as soon as the dump has started to flow; the command would sleep on.
    const sink: ArtifactSink = {
      put: (name, data) =>
        arts.sink.put(name, (async function* () {
          for await (const chunk of data) {
            ac.abort();
            yield chunk;
          }
        })()),
      putFiles: (paths, opts) => arts.sink.putFiles(paths, opts),
    };
    const source = make(tmp.path, { backup_command: 'echo started; exec sleep 30', restore_command: 'true' });
    await assert.rejects(source.backup(sink, testContext(ac.signal)), coded('cancelled'));
  });

  test('`to` reaches the commands as $LIFEBOAT_RESTORE_TO, and is refused by commands that ignore it', async (t) => {
    const tmp = await tempDir('command');
    const arts = await memoryArtifacts();
    t.after(() => Promise.all([arts.cleanup(), tmp.cleanup()]));
    const data = path.join(tmp.path, 'live');
    const other = path.join(tmp.path, 'copy');
    await writeFile(data, 'live data');
    const source = make(tmp.path, {
      backup_command: 'cat "$DATA"',
      restore_command: 'cat > "${LIFEBOAT_RESTORE_TO:-$DATA}"',
      fingerprint_command: 'cksum < "${LIFEBOAT_RESTORE_TO:-$DATA}"',
      env: { DATA: data },
    });
    const outcome = await source.backup(arts.sink, testContext());
    await source.restore(arts.reader(), testContext(), { to: other });
    assert.equal(await readFile(other, 'utf8'), 'live data');
    assert.deepEqual(compareFingerprints(outcome.fingerprint, await source.fingerprint(testContext(), { to: other })), []);

    const inPlaceOnly = make(tmp.path, { backup_command: 'cat "$DATA"', restore_command: 'cat > "$DATA"', env: { DATA: data } });
    await assert.rejects(inPlaceOnly.restore(arts.reader(), testContext(), { to: other }), coded('source', (err) => assert.match(err.message, /LIFEBOAT_RESTORE_TO/)));
    assert.equal(await readFile(data, 'utf8'), 'live data');
  });
});
