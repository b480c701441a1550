import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../../test/support/tmp.ts';
import { configJsonSchema } from './json-schema.ts';
import { fakeTypes } from './testing-types.ts';

const COMMITTED = fileURLToPath(new URL('../../docs/lifeboat.schema.json', import.meta.url));
const UPDATE = 'UPDATE_SCHEMA=1 ./node_modules/.bin/node --test src/config/json-schema.test.ts';

type Json = Record<string, unknown>;
const obj = (v: unknown): Json => v as Json;

describe('configJsonSchema', () => {
  it('describes the file: strict objects, source names, one member per type', () => {
    const schema = configJsonSchema(fakeTypes);
    assert.equal(schema.$schema, 'https://json-schema.org/draft/2020-12/schema');
    assert.equal(schema.additionalProperties, false);
    assert.deepEqual(schema.required, ['repository']);
    const props = obj(schema.properties);
    assert.deepEqual(Object.keys(props), ['repository', 'state_dir', 'concurrency', 'defaults', 'sources', 'copies', 'daemon', 'notifications']);
    const sources = obj(props.sources);
    assert.equal(obj(sources.propertyNames).pattern, '^[a-z0-9][a-z0-9_-]*$');
    const members = obj(sources.additionalProperties).oneOf as Json[];
    assert.deepEqual(members.map((m) => obj(obj(m.properties).type).const).sort(), [...fakeTypes.keys()].sort());
    for (const m of members) assert.equal(m.additionalProperties, false);
  });

  it('matches docs/lifeboat.schema.json (regenerate with UPDATE_SCHEMA=1)', async () => {
    const text = `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
    if (process.env.UPDATE_SCHEMA === '1') {
      await writeFile(COMMITTED, text);
      return;
    }
    const tmp = await tempDir('schema');
    try {
      const fresh = path.join(tmp.path, 'lifeboat.schema.json');
      await writeFile(fresh, text);
      const committed = await readFile(COMMITTED, 'utf8').catch(() => '');
      assert.ok(committed === await readFile(fresh, 'utf8'),
        `docs/lifeboat.schema.json is out of date with the config schema; regenerate it with: ${UPDATE}`);
    } finally {
      await tmp.cleanup();
    }
  });
});
