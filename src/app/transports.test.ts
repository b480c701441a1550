import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, TransportError } from '../core/errors.ts';
import type { SourceConfig } from '../config/schema.ts';
import { localRunner } from '../transport/local-runner.ts';
import { runnerFor } from './transports.ts';

const base = { type: 'command' } as SourceConfig;

test('a source without container or compose runs its tools locally', () => {
  assert.equal(runnerFor('a', base, {}, 'lifeboat.yml'), localRunner);
});

test('container and compose on one source is a config error naming the source', () => {
  assert.throws(() => runnerFor('db', { ...base, container: 'x', compose: { project: 'p', service: 's' } }, {}, 'lifeboat.yml'),
    (err: unknown) => err instanceof ConfigError && err.message.includes('source db'));
});

test('a DOCKER_HOST that is not a unix socket is a coded error saying what to set', () => {
  assert.throws(() => runnerFor('db', { ...base, container: 'x' }, { DOCKER_HOST: 'tcp://10.0.0.1:2375' }, 'lifeboat.yml'),
    (err: unknown) => err instanceof TransportError && err.code === 'transport_unreachable' && err.message.includes('tcp://10.0.0.1:2375'));
});

test('a source type that cannot use a container yet refuses the key instead of using host paths', () => {
  for (const type of ['neo4j', 'qdrant', 'wikijs', 'n8n']) {
    assert.throws(() => runnerFor('s', { type, container: 'x' } as SourceConfig, {}, 'lifeboat.yml'),
      (err: unknown) => err instanceof ConfigError && err.message.includes(`a ${type} source cannot run in a container yet`), type);
  }
});

test('redis, vault, victoriametrics, opensearch and s3 reach their servers through a container or ssh', () => {
  for (const type of ['redis', 'vault', 'victoriametrics', 'opensearch', 's3']) {
    for (const where of [{ container: 'x' }, { ssh: { host: 'db1.internal' } }]) {
      assert.equal(typeof runnerFor('s', { type, ...where } as SourceConfig, {}, 'lifeboat.yml').stageFile, 'function', `${type} ${Object.keys(where)[0]}`);
    }
  }
});

test('ssh on a source runs its tools through the ssh transport; with container it is a config error', () => {
  const runner = runnerFor('db', { ...base, ssh: { host: 'db1.internal', user: 'backup' } } as SourceConfig, {}, 'lifeboat.yml');
  assert.notEqual(runner, localRunner);
  assert.equal(typeof runner.stageFile, 'function');
  assert.throws(() => runnerFor('db', { ...base, container: 'x', ssh: { host: 'h' } } as SourceConfig, {}, 'lifeboat.yml'),
    (err: unknown) => err instanceof ConfigError && err.message.includes('source db') && err.message.includes('ssh'));
});

test('qdrant reaches its server over ssh', () => {
  assert.equal(typeof runnerFor('s', { type: 'qdrant', ssh: { host: 'db1.internal' } } as SourceConfig, {}, 'lifeboat.yml').stageFile, 'function');
});

test('a source type that cannot run over ssh yet refuses the key', () => {
  assert.throws(() => runnerFor('f', { type: 'files', ssh: { host: 'h' } } as SourceConfig, {}, 'lifeboat.yml'),
    (err: unknown) => err instanceof ConfigError && err.message.includes('a files source cannot run over ssh yet'));
});

test('redis and files in a container get the container transport: commands staged there, the container at hand', () => {
  for (const type of ['redis', 'files']) {
    const r = runnerFor('s', { type, compose: { project: 'omni', service: 'cache' } } as SourceConfig, {}, 'lifeboat.yml');
    assert.notEqual(r, localRunner, type);
    assert.equal(typeof r.stageFile, 'function', type);
    assert.equal(r.container?.description, 'compose service cache of project omni', type);
  }
});

test('a volume source runs in its own helper container and refuses container/compose', () => {
  const r = runnerFor('uploads', { type: 'volume', volume: 'omni_uploads' } as SourceConfig, {}, 'lifeboat.yml');
  assert.equal(r.container?.description, `container lifeboat-volume-uploads-${process.pid}`);
  assert.throws(() => runnerFor('uploads', { type: 'volume', volume: 'v', container: 'x' } as SourceConfig, {}, 'lifeboat.yml'),
    (err: unknown) => err instanceof ConfigError && err.message.includes('a volume source reaches its volume through a helper container of its own'));
});
