import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../../test/support/tmp.ts';
import { describeConfig } from './describe.ts';
import { loadConfig } from './loader.ts';
import { writeConfig } from './testing-types.ts';

const DOC = fileURLToPath(new URL('../../docs/config.md', import.meta.url));

describe('docs/config.md', () => {
  it('has a full example that loads with the registered source types', async () => {
    const doc = await readFile(DOC, 'utf8');
    const m = /<!-- config-example[^>]*-->\n```yaml\n([\s\S]*?)```/.exec(doc);
    assert.ok(m, 'docs/config.md lost its marked example');
    const dir = await tempDir('docs-example');
    try {
      const loaded = await loadConfig(await writeConfig(dir.path, m[1]), { env: { HOME: '/home/ops' } });
      assert.ok(loaded.sources.length >= 3);
      const names = loaded.sources.map((s) => s.name);
      for (const s of loaded.sources) {
        for (const dep of s.config.depends_on ?? []) assert.ok(names.indexOf(dep) < names.indexOf(s.name));
      }
      assert.ok(JSON.stringify(describeConfig(loaded)).length > 0);
    } finally {
      await dir.cleanup();
    }
  });
});
