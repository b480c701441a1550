import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError } from '../core/errors.ts';
import { tempDir } from '../../test/support/tmp.ts';
import type { TempDir } from '../../test/support/tmp.ts';
import { createSecretResolver } from './secrets.ts';

const SECRET = 'pa55-w0rd with spaces ';

let dir: TempDir;

/** The ConfigError `p` rejects with; asserts the secret is nowhere in it. */
async function rejection(p: Promise<unknown>): Promise<ConfigError> {
  const err = await p.then(() => assert.fail('resolved'), (e: unknown) => e);
  assert.ok(err instanceof ConfigError, String(err));
  assert.ok(!`${err.message} ${err.hint ?? ''} ${JSON.stringify(err.data)}`.includes(SECRET.trim()));
  return err;
}

describe('createSecretResolver', () => {
  before(async () => { dir = await tempDir('secrets'); });
  after(async () => { await dir.cleanup(); });

  it('reads { env }, and names a missing or empty variable', async () => {
    const secrets = createSecretResolver({ env: { PGPASS: SECRET, EMPTY: '' }, baseDir: dir.path });
    assert.equal(await secrets({ env: 'PGPASS' }, 'sources.pg.password'), SECRET);
    const missing = await rejection(secrets({ env: 'NOPE' }, 'sources.pg.password'));
    assert.equal(missing.message, 'sources.pg.password: environment variable NOPE is not set');
    const empty = await rejection(secrets({ env: 'EMPTY' }, 'repository.password'));
    assert.equal(empty.message, 'repository.password: environment variable EMPTY is empty');
  });

  it('reads { file } relative to the base directory without its trailing newline', async () => {
    await writeFile(path.join(dir.path, 'pw'), `${SECRET}\n`, { mode: 0o600 });
    await chmod(path.join(dir.path, 'pw'), 0o600);
    const secrets = createSecretResolver({ env: {}, baseDir: dir.path });
    assert.equal(await secrets({ file: 'pw' }, 'x'), SECRET);
    assert.equal(await secrets({ file: path.join(dir.path, 'pw') }, 'x'), SECRET);
    assert.deepEqual(secrets.warnings, []);
  });

  it('warns about a secret file others can read, without failing', async () => {
    const file = path.join(dir.path, 'open-pw');
    await writeFile(file, `${SECRET}\r\n`);
    await chmod(file, 0o644);
    const secrets = createSecretResolver({ env: {}, baseDir: dir.path });
    assert.equal(await secrets({ file }, 'sources.pg.password'), SECRET);
    assert.equal(secrets.warnings.length, 1);
    assert.match(secrets.warnings[0], /^sources\.pg\.password: secret file .*open-pw can be read by group or others \(mode 644\); run chmod 600/);
  });

  it('names a missing or empty secret file', async () => {
    const secrets = createSecretResolver({ env: {}, baseDir: dir.path });
    const missing = await rejection(secrets({ file: 'absent' }, 'repository.password'));
    assert.equal(missing.message, `repository.password: cannot read secret file ${path.join(dir.path, 'absent')}: ENOENT`);
    await writeFile(path.join(dir.path, 'blank'), '\n', { mode: 0o600 });
    const blank = await rejection(secrets({ file: 'blank' }, 'repository.password'));
    assert.match(blank.message, /secret file .*blank is empty$/);
  });

  it('runs { command } with sh in the base directory and the given env', async () => {
    await writeFile(path.join(dir.path, 'stored'), SECRET, { mode: 0o600 });
    const secrets = createSecretResolver({ env: { PATH: process.env.PATH, SUFFIX: '!' }, baseDir: dir.path });
    assert.equal(await secrets({ command: 'cat stored; echo' }, 'x'), SECRET);
    assert.equal(await secrets({ command: 'printf "%s" "$SUFFIX"' }, 'x'), '!');
  });

  it('reports a failing command by its exit status, never its output', async () => {
    const secrets = createSecretResolver({ env: { PATH: process.env.PATH }, baseDir: dir.path });
    await writeFile(path.join(dir.path, 'stored2'), SECRET, { mode: 0o600 });
    // The command prints the secret on both streams, then fails: the error names only the status.
    const failed = await rejection(secrets({ command: 'cat stored2; cat stored2 >&2; exit 3' }, 'sources.db.password'));
    assert.equal(failed.message, 'sources.db.password: secret command "cat stored2; cat stored2 >&2; exit 3" exited with status 3');
    const silent = await rejection(secrets({ command: 'true' }, 'x'));
    assert.match(silent.message, /printed nothing$/);
    const killed = await rejection(secrets({ command: 'kill -TERM $$' }, 'x'));
    assert.match(killed.message, /was killed by SIGTERM$/);
  });

  it('resolves each reference once, and retries one that failed', async () => {
    const counter = path.join(dir.path, 'count');
    const env = { PATH: process.env.PATH };
    const secrets = createSecretResolver({ env, baseDir: dir.path });
    const cmd = { command: `echo x >> ${counter}; echo value` };
    const [a, b] = await Promise.all([secrets(cmd, 'a'), secrets(cmd, 'b')]);
    assert.deepEqual([a, b], ['value', 'value']);
    assert.equal((await readFile(counter, 'utf8')).split('\n').filter(Boolean).length, 1);

    const later: Record<string, string> = {};
    const lazy = createSecretResolver({ env: later, baseDir: dir.path });
    await rejection(lazy({ env: 'LATE' }, 'x'));
    later.LATE = 'now';
    assert.equal(await lazy({ env: 'LATE' }, 'x'), 'now');
  });
});
