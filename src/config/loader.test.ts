import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError } from '../core/errors.ts';
import { tempDir } from '../../test/support/tmp.ts';
import type { TempDir } from '../../test/support/tmp.ts';
import { dependencyOrder, findConfigFile, loadConfig } from './loader.ts';
import { fakeTypes, lineWith, writeConfig } from './testing-types.ts';

const VALID = `# a stack
repository:
  url: local:./repo
  password: { file: ./secrets/repo-password }
concurrency: 3
defaults:
  retention: { keep_daily: 7, keep_weekly: 4 }
  rpo: 24h
  rto: 30m
  schedule: "@daily"
sources:
  wiki:
    type: files
    paths: [./wiki-data, ~/uploads, /srv/abs]
    depends_on: [postgres, cache]
  postgres:
    type: postgres
    connection: { host: 127.0.0.1, port: 5432, user: postgres, password: { env: PGPASS } }
    databases: all
    schedule: "@hourly"
    retention: { keep_hourly: 24 }
    rpo: 1h
    restore: { hooks: { before: ["docker compose stop wiki"], after: ["docker compose start wiki"] } }
  cache: { type: redis, url: "redis://127.0.0.1:6379", password: { file: ~/redis-pw } }
  app-db: { type: sqlite, path: data/app.db }
copies:
  - { repository: { url: "s3:https://s3.example.com/offsite", password: { env: OFFSITE_PW } }, schedule: "@daily" }
`;

/** A minimal valid file with `extra` appended (the error fixtures build on it). */
const withRepo = (extra: string): string => `repository:
  url: local:/var/backups/lifeboat
  password: { env: LIFEBOAT_PASSWORD }
${extra}`;

let dir: TempDir;
const env = { HOME: '/home/tester', XDG_STATE_HOME: '/xdg/state' };

/** Loads `text` and returns the ConfigError it must fail with. */
async function failure(text: string): Promise<{ err: ConfigError; file: string }> {
  const file = await writeConfig(dir.path, text);
  const err = await loadConfig(file, { types: fakeTypes, env }).then(
    () => assert.fail('the config was accepted'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
  assert.equal(err.file, file);
  return { err, file };
}

describe('loadConfig', () => {
  before(async () => { dir = await tempDir('config'); });
  after(async () => { await dir.cleanup(); });

  it('loads a valid file: paths resolved against its directory, defaults merged, dependency order', async () => {
    const file = await writeConfig(dir.path, VALID);
    const loaded = await loadConfig(file, { types: fakeTypes, env });
    const { config } = loaded;
    assert.equal(loaded.file, file);
    assert.equal(config.repository.url, `local:${path.join(dir.path, 'repo')}`);
    assert.deepEqual(config.repository.password, { file: path.join(dir.path, 'secrets/repo-password') });
    assert.equal(config.concurrency, 3);
    assert.equal(loaded.stateDir, '/xdg/state/lifeboat');
    // Remote URLs and env references are kept as written.
    assert.equal(config.copies?.[0].repository.url, 's3:https://s3.example.com/offsite');
    assert.deepEqual(config.copies?.[0].repository.password, { env: 'OFFSITE_PW' });

    const byName = Object.fromEntries(loaded.sources.map((s) => [s.name, s.config]));
    assert.deepEqual(byName.wiki.paths, [path.join(dir.path, 'wiki-data'), '/home/tester/uploads', '/srv/abs']);
    assert.equal(byName['app-db'].path, path.join(dir.path, 'data/app.db'));
    assert.deepEqual(byName.cache.password, { file: '/home/tester/redis-pw' });
    assert.deepEqual(byName.postgres.connection, { host: '127.0.0.1', port: 5432, user: 'postgres', password: { env: 'PGPASS' } });

    // Inherited where not set, own values kept (a source's retention replaces the default one).
    assert.deepEqual(byName.wiki.retention, { keep_daily: 7, keep_weekly: 4 });
    assert.equal(byName.wiki.rpo, '24h');
    assert.equal(byName.wiki.schedule, '@daily');
    assert.deepEqual(byName.postgres.retention, { keep_hourly: 24 });
    assert.equal(byName.postgres.rpo, '1h');
    assert.equal(byName.postgres.rto, '30m');
    assert.equal(byName.postgres.schedule, '@hourly');
    // Each source has its own copy of inherited objects.
    assert.notEqual(byName.wiki.retention, byName.cache.retention);

    const order = loaded.sources.map((s) => s.name);
    assert.equal(order.length, 4);
    assert.ok(order.indexOf('postgres') < order.indexOf('wiki') && order.indexOf('cache') < order.indexOf('wiki'));
    assert.deepEqual(order, dependencyOrder(config.sources));
    assert.equal(loaded.sources.find((s) => s.name === 'wiki')?.config, config.sources.wiki);
  });

  it('applies built-in defaults: concurrency 2, state under ~/.local/state, no sources', async () => {
    const file = await writeConfig(dir.path, withRepo('sources:\n  # db: { type: sqlite, path: a.db }\n'));
    const loaded = await loadConfig(file, { types: fakeTypes, env: { HOME: '/home/tester' } });
    assert.equal(loaded.config.concurrency, 2);
    assert.equal(loaded.stateDir, '/home/tester/.local/state/lifeboat');
    assert.deepEqual(loaded.sources, []);
  });

  it('resolves state_dir and a bare repository path like other paths', async () => {
    const file = await writeConfig(dir.path, 'repository: { url: ../backups, password: { env: P } }\nstate_dir: ~/state\n');
    const loaded = await loadConfig(file, { types: fakeTypes, env });
    assert.equal(loaded.stateDir, '/home/tester/state');
    assert.equal(loaded.config.state_dir, '/home/tester/state');
    assert.equal(loaded.config.repository.url, `local:${path.resolve(dir.path, '../backups')}`);
  });

  it('accepts YAML anchors and merge keys', async () => {
    const text = withRepo(`sources:
  one: &files { type: files, paths: [a], schedule: "@hourly" }
  two: { <<: *files, paths: [b] }
`);
    const loaded = await loadConfig(await writeConfig(dir.path, text), { types: fakeTypes, env });
    assert.equal(loaded.config.sources.two.schedule, '@hourly');
    assert.deepEqual(loaded.config.sources.two.paths, [path.join(dir.path, 'b')]);
  });

  it('names an unknown key, its line, and the closest known key', async () => {
    const text = withRepo(`sources:
  pg:
    type: postgres
    connection: { host: db }
    schedul: "@daily"
`);
    const { err, file } = await failure(text);
    const line = lineWith(text, 'schedul:');
    assert.equal(err.line, line);
    assert.equal(err.key, 'sources.pg.schedul');
    assert.equal(err.message, `${file}:${line}: sources.pg.schedul: unknown key "schedul" (did you mean "schedule"?)`);
  });

  it('accepts restic keep_within durations and refuses other units, with file and line', async () => {
    const ok = await writeConfig(dir.path, withRepo(`defaults:
  retention: { keep_within: 1y2m3d4h }
sources:
  pg: { type: postgres, connection: { host: db }, retention: { keep_within: 6m } }
`));
    const loaded = await loadConfig(ok, { types: fakeTypes, env });
    assert.equal(loaded.config.sources.pg.retention?.keep_within, '6m');
    for (const [bad, why] of [['30 days', /unknown unit " "/], ['2w', /unknown unit "w"/], ['"7"', /needs a unit/], ['-1d', /negative/], ['""', /must not be empty/]] as const) {
      const text = withRepo(`sources:
  pg:
    type: postgres
    connection: { host: db }
    retention:
      keep_daily: 7
      keep_within: ${bad}
`);
      const { err, file } = await failure(text);
      const line = lineWith(text, 'keep_within:');
      assert.equal(err.line, line, bad);
      assert.equal(err.key, 'sources.pg.retention.keep_within');
      assert.ok(err.message.startsWith(`${file}:${line}: sources.pg.retention.keep_within: `), err.message);
      assert.match(err.message, why);
    }
  });

  it('validates schedule as cron or @every wherever it is written, with file and line', async () => {
    const ok = await writeConfig(dir.path, withRepo(`defaults: { schedule: "*/15 2-4 * jan-jun mon-fri" }
sources:
  pg: { type: postgres, connection: { host: db }, schedule: "@every 1h30m" }
copies:
  - { repository: { url: "local:/x", password: { env: X } }, schedule: "@weekly" }
`));
    await loadConfig(ok, { types: fakeTypes, env });
    const text = withRepo(`defaults:
  schedule: "@dialy"
sources:
  pg:
    type: postgres
    connection: { host: db }
    schedule: "61 * * * *"
copies:
  - repository: { url: "local:/x", password: { env: X } }
    schedule: "every day"
`);
    const { err, file } = await failure(text);
    assert.equal(err.message.split('\n')[0], `${file}: 3 problems`);
    assert.match(err.message, new RegExp(`:${lineWith(text, '@dialy')}: defaults.schedule: unknown schedule "@dialy"`));
    assert.match(err.message, new RegExp(`:${lineWith(text, '61 *')}: sources.pg.schedule: minute: 61 is out of range 0–59`));
    assert.match(err.message, new RegExp(`:${lineWith(text, 'every day')}: copies\\[0\\].schedule: "every day" has 2 fields`));
  });

  it('suggests the closest top-level key too, and lists the known keys when none is close', async () => {
    const { err } = await failure(withRepo('sorces: {}\n'));
    assert.match(err.message, /sorces: unknown key "sorces" \(did you mean "sources"\?\)$/);
    const { err: err2 } = await failure(withRepo('frobnicate: 1\n'));
    assert.match(err2.message, /unknown key "frobnicate" \(known keys: repository, state_dir, concurrency, defaults, sources, copies, daemon, notifications\)$/);
  });

  it('reports a wrong type with the key and line', async () => {
    const text = withRepo(`sources:
  cache:
    type: redis
    url: 6379
`);
    const { err, file } = await failure(text);
    const line = lineWith(text, 'url: 6379');
    assert.equal(err.message, `${file}:${line}: sources.cache.url: expected a string, got an integer`);
  });

  it('reports a missing repository on line 1 with an example', async () => {
    const text = 'sources: {}\n';
    const { err, file } = await failure(text);
    assert.equal(err.line, 1);
    assert.equal(err.key, 'repository');
    assert.ok(err.message.startsWith(`${file}:1: repository: missing; say where backups are stored`), err.message);
    // An empty file is a missing repository too.
    const { err: empty } = await failure('');
    assert.equal(empty.key, 'repository');
  });

  it('lists the known types for an unknown source type', async () => {
    const text = withRepo(`sources:
  docs:
    type: mongo
`);
    const { err, file } = await failure(text);
    const line = lineWith(text, 'type: mongo');
    assert.equal(err.message, `${file}:${line}: sources.docs.type: unknown source type "mongo"; known types: files, postgres, redis, sqlite`);
    const { err: typo } = await failure(withRepo('sources:\n  docs: { type: postgress }\n'));
    assert.match(typo.message, /unknown source type "postgress" \(did you mean "postgres"\?\); known types: /);
    const { err: missing } = await failure(withRepo('sources:\n  docs: { paths: [a] }\n'));
    assert.match(missing.message, /sources\.docs\.type: missing; say which kind of source this is: one of files, postgres, redis, sqlite$/);
  });

  it('rejects a depends_on that names no source, suggesting the closest', async () => {
    const text = withRepo(`sources:
  postgres: { type: postgres, connection: { host: db } }
  wiki:
    type: files
    paths: [a]
    depends_on:
      - postgre
`);
    const { err, file } = await failure(text);
    const line = lineWith(text, '- postgre');
    assert.equal(err.message, `${file}:${line}: sources.wiki.depends_on[0]: unknown source "postgre" (did you mean "postgres"?)`);
  });

  it('names a depends_on cycle', async () => {
    const text = withRepo(`sources:
  c: { type: files, paths: [c] }
  b: { type: files, paths: [b], depends_on: [a] }
  a: { type: files, paths: [a], depends_on: [c, b] }
`);
    const { err, file } = await failure(text);
    const line = lineWith(text, '  a: {');
    assert.equal(err.message, `${file}:${line}: sources.a.depends_on[1]: dependency cycle: a -> b -> a`);
    const { err: self } = await failure(withRepo('sources:\n  x: { type: files, paths: [x], depends_on: [x] }\n'));
    assert.match(self.message, /dependency cycle: x -> x$/);
  });

  it('refuses an inline secret without echoing it', async () => {
    const secret = 'hunter2-Sup3rS3cret';
    const text = withRepo(`sources:
  postgres:
    type: postgres
    connection:
      host: db
      password: ${secret}
`);
    const { err, file } = await failure(text);
    const line = lineWith(text, secret);
    assert.equal(err.message, `${file}:${line}: sources.postgres.connection.password: write the secret as { env: NAME } or { file: PATH }, not inline`);
    assert.ok(!JSON.stringify({ ...err, message: err.message, hint: err.hint }).includes(secret));
    assert.ok(!String(err.stack).includes(secret));
  });

  it('refuses an inline repository password and a malformed reference', async () => {
    const { err } = await failure('repository: { url: local:/r, password: "s3cret" }\n');
    assert.match(err.message, /:1: repository\.password: write the secret as \{ env: NAME \} or \{ file: PATH \}, not inline$/);
    assert.ok(!err.message.includes('s3cret'));
    const { err: bad } = await failure('repository: { url: local:/r, password: { envv: P } }\n');
    assert.match(bad.message, /repository\.password: write the secret as exactly one of \{ env: NAME \}, \{ file: PATH \} or \{ command: CMD \}$/);
  });

  it('rejects a source name that cannot be a tag', async () => {
    const text = withRepo('sources:\n  My DB: { type: sqlite, path: a.db }\n');
    const { err } = await failure(text);
    assert.equal(err.key, 'sources."My DB"');
    assert.equal(err.line, lineWith(text, 'My DB'));
    assert.match(err.message, /: sources."My DB": invalid source name: use lowercase letters, digits/);
  });

  it('reports YAML syntax errors with their line', async () => {
    const text = withRepo('sources:\n  a: [1, 2\n  b: 1\n');
    const { err, file } = await failure(text);
    assert.ok(err.message.startsWith(`${file}:`), err.message);
    assert.match(err.message, /: YAML syntax error: /);
    assert.equal(typeof err.line, 'number');
    const dup = withRepo('concurrency: 1\nconcurrency: 2\n');
    const { err: dupErr } = await failure(dup);
    assert.equal(dupErr.line, lineWith(dup, 'concurrency: 2'));
    assert.match(dupErr.message, /Map keys must be unique/);
  });

  it('reports every problem at once, sorted by line, count first', async () => {
    const text = withRepo(`concurrency: lots
sources:
  a: { type: files, paths: [a], rpo: soon }
  b: { type: files, path: [b] }
`);
    const { err, file } = await failure(text);
    const lines = err.message.split('\n');
    assert.equal(lines[0], `${file}: 4 problems`);
    assert.deepEqual(lines.slice(1).map((l) => Number(l.slice(file.length + 1).split(':')[0])), [
      lineWith(text, 'concurrency'), lineWith(text, 'rpo: soon'), lineWith(text, 'path: [b]'), lineWith(text, 'path: [b]'),
    ]);
    assert.match(lines[1], /concurrency: expected a number, got a string$/);
    assert.match(lines[2], /sources\.a\.rpo: expected a duration like 30s/);
    assert.ok(lines.slice(3).some((l) => l.endsWith('sources.b.paths: missing (required)')));
    assert.ok(lines.slice(3).some((l) => /sources\.b\.path: unknown key "path" \(did you mean "paths"\?\)$/.test(l)));
    assert.equal(err.line, lineWith(text, 'concurrency'));
  });

  it('fails clearly on a file that is not a mapping or does not exist', async () => {
    const { err } = await failure('- a\n- b\n');
    assert.match(err.message, /the file must be a mapping/);
    const missing = path.join(dir.path, 'nope.yml');
    await assert.rejects(loadConfig(missing, { types: fakeTypes, env }), (e: unknown) =>
      e instanceof ConfigError && e.message.includes(missing) && e.message.includes('ENOENT'));
  });
});

describe('dependencyOrder', () => {
  it('puts dependencies first and breaks ties by name', () => {
    const order = dependencyOrder({ web: { depends_on: ['db', 'cache'] }, db: {}, cache: {}, assets: {}, worker: { depends_on: ['db'] } });
    assert.deepEqual(order, ['assets', 'cache', 'db', 'web', 'worker']);
  });

  it('throws a ConfigError naming the cycle', () => {
    assert.throws(() => dependencyOrder({ b: { depends_on: ['c'] }, c: { depends_on: ['b'] }, a: {} }), (e: unknown) =>
      e instanceof ConfigError && e.message.endsWith('b -> c -> b'));
  });
});

describe('findConfigFile', () => {
  let root: TempDir;
  before(async () => { root = await tempDir('config-find'); });
  after(async () => { await root.cleanup(); });

  it('takes --config, then LIFEBOAT_CONFIG, then ./lifeboat.yml, then ~/.config/lifeboat/lifeboat.yml', async () => {
    const home = path.join(root.path, 'home');
    const cwd = path.join(root.path, 'work');
    await mkdir(path.join(home, '.config', 'lifeboat'), { recursive: true });
    await mkdir(cwd, { recursive: true });
    const inHome = path.join(home, '.config', 'lifeboat', 'lifeboat.yml');
    await writeFile(inHome, '');
    const other = path.join(root.path, 'other.yml');
    await writeFile(other, '');
    const base = { HOME: home };

    assert.equal(findConfigFile(undefined, base, cwd), inHome);
    await writeFile(path.join(cwd, 'lifeboat.yml'), '');
    assert.equal(findConfigFile(undefined, base, cwd), path.join(cwd, 'lifeboat.yml'));
    assert.equal(findConfigFile(undefined, { ...base, LIFEBOAT_CONFIG: '../other.yml' }, cwd), other);
    assert.equal(findConfigFile(inHome, { ...base, LIFEBOAT_CONFIG: other }, cwd), inHome);
  });

  it('fails on a named file that is missing, and with a hint when none is found', async () => {
    const cwd = path.join(root.path, 'empty');
    await mkdir(cwd, { recursive: true });
    assert.throws(() => findConfigFile('missing.yml', {}, cwd), (e: unknown) =>
      e instanceof ConfigError && e.message.includes('--config') && e.file === path.join(cwd, 'missing.yml'));
    assert.throws(() => findConfigFile(undefined, { LIFEBOAT_CONFIG: '/nonexistent/l.yml' }, cwd), /LIFEBOAT_CONFIG/);
    assert.throws(() => findConfigFile(undefined, { HOME: path.join(root.path, 'nohome') }, cwd), (e: unknown) =>
      e instanceof ConfigError && e.message === 'no lifeboat.yml found' && /--config FILE, set LIFEBOAT_CONFIG/.test(e.hint ?? ''));
  });
});
