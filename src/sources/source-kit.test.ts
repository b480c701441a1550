/**
 * A source type receives its config as lifeboat.yml's schema parsed it: the same object (type,
 * common keys, its own keys with their defaults), bound to the type's factory by the parse, so
 * no caller looks the type up again, casts the config or parses it a second time.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import type { Source } from '../core/source.ts';
import { buildConfigSchema } from '../config/schema.ts';
import { createSource, readAll, registerSourceType } from './source-kit.ts';
import type { SourceConfigOf, SourceDeps } from './source-kit.ts';

const keys = { url: z.string(), port: z.int().default(5432) };
const created: Array<{ name: string; config: SourceConfigOf<typeof keys> }> = [];
const fake = registerSourceType({
  type: 'fake',
  description: 'a fake source',
  keys,
  create: (name, config) => {
    created.push({ name, config });
    return { name, type: 'fake' } as unknown as Source; // only its identity is looked at
  },
});
const other = registerSourceType({ type: 'other', description: 'another', keys: { path: z.string() }, create: () => assert.fail('the wrong factory ran') });
const deps = {} as SourceDeps;

test('a source is created from the object the schema parsed, defaults applied, by its own type', () => {
  const schema = buildConfigSchema(new Map([[fake.type, fake], [other.type, other]]));
  const config = schema.parse({
    repository: { url: 'local:/r', password: { env: 'P' } },
    sources: { db: { type: 'fake', url: 'x://db', timeouts: { connect: '5s' } } },
  });
  const parsed = config.sources.db as object;
  const source = createSource('db', parsed, deps);
  assert.equal(source.name, 'db');
  assert.equal(created.length, 1);
  assert.equal(created[0]?.config, parsed, 'the factory got another object than the one parsed');
  assert.deepEqual(created[0]?.config, { type: 'fake', url: 'x://db', port: 5432, timeouts: { connect: '5s' } });
});

test('a config the schema did not parse is refused, naming the source', () => {
  assert.throws(() => createSource('db', { type: 'fake', url: 'x://db', port: 1 }, deps), /source db: its config was not parsed by a registered source type's schema/);
});

test('readAll joins the pieces of a small artifact byte for byte, views into larger buffers included', async () => {
  const backing = Buffer.from('xxhello, yy');
  const pieces = async function* (): AsyncGenerator<Uint8Array> {
    yield new Uint8Array(backing.buffer, backing.byteOffset + 2, 7);
    yield new Uint8Array(0);
    yield Buffer.from('world');
  };
  assert.equal((await readAll(pieces())).toString('utf8'), 'hello, world');
});
