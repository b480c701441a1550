import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { secretRefSchema } from '../sources/source-kit.ts';
import { pathKeysOf, resolvePath, resolveRepositoryUrl, resolveSecretFiles, resolveSourcePaths, resolveStateDir } from './paths.ts';
import { sourceTypes } from '../sources/registry.ts';
import type { SourceConfig } from './schema.ts';

const env = { HOME: '/home/u' };

describe('config paths', () => {
  it('resolves relative paths against the base directory and ~ against HOME', () => {
    assert.equal(resolvePath('data/x', '/etc/stack', env), '/etc/stack/data/x');
    assert.equal(resolvePath('../x', '/etc/stack', env), '/etc/x');
    assert.equal(resolvePath('/abs', '/etc/stack', env), '/abs');
    assert.equal(resolvePath('~', '/etc/stack', env), '/home/u');
    assert.equal(resolvePath('~/b', '/etc/stack', env), '/home/u/b');
  });

  it('makes local repository locations absolute and keeps other schemes', () => {
    assert.equal(resolveRepositoryUrl('local:repo', '/s', env), 'local:/s/repo');
    assert.equal(resolveRepositoryUrl('local:~/repo', '/s', env), 'local:/home/u/repo');
    assert.equal(resolveRepositoryUrl('./repo', '/s', env), 'local:/s/repo');
    assert.equal(resolveRepositoryUrl('/var/b', '/s', env), 'local:/var/b');
    assert.equal(resolveRepositoryUrl('s3:https://h/b/p', '/s', env), 's3:https://h/b/p');
    assert.equal(resolveRepositoryUrl('rest:http://h:8000/', '/s', env), 'rest:http://h:8000/');
  });

  it('finds the state directory', () => {
    assert.equal(resolveStateDir('st', '/s', env), '/s/st');
    assert.equal(resolveStateDir(undefined, '/s', { ...env, XDG_STATE_HOME: '/x' }), '/x/lifeboat');
    // A relative XDG_STATE_HOME is invalid by the XDG spec and ignored.
    assert.equal(resolveStateDir(undefined, '/s', { ...env, XDG_STATE_HOME: 'rel' }), '/home/u/.local/state/lifeboat');
  });

  it('resolves the path keys of a source; a program only when it has a slash', () => {
    const source = { type: 't', paths: ['a', '/b'], tls: { ca_file: 'ca.pem' }, bin: 'redis-server', bin2: './bin/redis-server' } as SourceConfig;
    resolveSourcePaths(source, ['paths', 'tls.ca_file', 'program:bin', 'program:bin2', 'absent.key'], '/s', env);
    assert.deepEqual(source, { type: 't', paths: ['/s/a', '/b'], tls: { ca_file: '/s/ca.pem' }, bin: 'redis-server', bin2: '/s/bin/redis-server' });
  });

  it('resolves { file } secret references only where a secret belongs', () => {
    const schema = z.strictObject({
      password: secretRefSchema,
      list: z.array(z.strictObject({ token: secretRefSchema.optional() })),
      other: z.strictObject({ file: z.string() }),
    });
    const value = { password: { file: 'pw' }, list: [{ token: { file: '~/t' } }, { token: { env: 'E' } }], other: { file: 'kept' } };
    resolveSecretFiles(schema, value, '/s', env);
    assert.deepEqual(value, { password: { file: '/s/pw' }, list: [{ token: { file: '/home/u/t' } }, { token: { env: 'E' } }], other: { file: 'kept' } });
  });

  it('resolves the ssh transport\'s local files for any source type, and leaves remote paths to the type', () => {
    const source = { type: 'sqlite', path: '/srv/app.db', ssh: { host: 'db1', identity_file: 'keys/id', known_hosts: '~/kh' } } as unknown as SourceConfig;
    resolveSourcePaths(source, pathKeysOf('sqlite', sourceTypes), '/s', env);
    assert.deepEqual(source, { type: 'sqlite', path: '/srv/app.db', ssh: { host: 'db1', identity_file: '/s/keys/id', known_hosts: '/home/u/kh' } });
  });
});
