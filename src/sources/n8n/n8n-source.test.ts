// The n8n source's parts that need no n8n: verify of stored exports (arrays, ids, nodes,
// credentials still encrypted) and a restore refused before any CLI runs when the snapshot
// lacks an export. The source against the real n8n CLI: test/integration/n8n-source.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SourceError } from '../../core/errors.ts';
import { localRunner } from '../../transport/local-runner.ts';
import { memoryArtifacts, testContext } from '../../../test/support/memory-artifacts.ts';
import { n8nConfigSchema } from './n8n-config.ts';
import { n8nType } from './n8n-source.ts';

const source = n8nType.create('automations', n8nConfigSchema.parse({ n8n_bin: '/nonexistent/n8n', user_folder: '/nonexistent' }), {
  runner: localRunner, secrets: async () => 'k', tmpDir: '/nonexistent/tmp',
});
const workflow = { id: 'a1', name: 'Flow', active: true, nodes: [{ name: 'Schedule' }], connections: {}, settings: {} };

test('verify parses both exports and refuses decrypted credentials and cut JSON, naming the file', async () => {
  const arts = await memoryArtifacts();
  try {
    arts.set('workflows.json', Buffer.from(JSON.stringify([workflow])));
    arts.set('credentials.json', Buffer.from(JSON.stringify([{ id: 'c1', name: 'x', type: 'httpBasicAuth', data: 'U2FsdGVkX1abc' }])));
    assert.deepEqual(await source.verify!(arts.reader(), testContext()), { checks: ['credentials.json: 1 credentials, encrypted', 'workflows.json: 1 workflows'], problems: [] });

    arts.set('credentials.json', Buffer.from(JSON.stringify([{ id: 'c1', name: 'x', type: 'httpBasicAuth', data: { user: 'u', password: 'p' } }])));
    arts.set('workflows.json', Buffer.from('[{"id":"a1","nodes":[],"connecti'));
    const bad = await source.verify!(arts.reader(), testContext());
    assert.match(bad.problems[0], /^credentials\.json: credential c1 is not encrypted \(exported with --decrypted\?\)/);
    assert.match(bad.problems[1], /^workflows\.json: cannot be read as JSON/);
  } finally {
    await arts.cleanup();
  }
});

test('a restore from a snapshot without both exports is refused before n8n runs', async () => {
  const arts = await memoryArtifacts();
  try {
    arts.set('workflows.json', Buffer.from(JSON.stringify([workflow])));
    await assert.rejects(source.restore(arts.reader(), testContext()), (err: unknown) => {
      assert.ok(err instanceof SourceError);
      assert.equal(err.message, 'n8n source automations: the snapshot has no credentials.json');
      return true;
    });
  } finally {
    await arts.cleanup();
  }
});
