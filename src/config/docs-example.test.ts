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

  it('has per-type source examples that load with the registered source types', async () => {
    const doc = await readFile(DOC, 'utf8');
    const types = doc.slice(doc.indexOf('## Keys of each source type'));
    // A source entry: the block's first line is "  name:" (two spaces in, as under sources:).
    const blocks = [...types.matchAll(/```yaml\n( {2}[a-z][\w-]*:[\s\S]*?)```/g)].map((m) => m[1]);
    assert.ok(blocks.length >= 3, `found ${blocks.length} source examples`);
    const dir = await tempDir('docs-types');
    try {
      for (const block of blocks) {
        const yaml = `repository: { url: 'local:/var/backups/lifeboat', password: { env: LIFEBOAT_PASSWORD } }\nsources:\n${block}`;
        const loaded = await loadConfig(await writeConfig(dir.path, yaml), { env: { HOME: '/home/ops' } });
        assert.equal(loaded.sources.length, 1, block);
      }
    } finally {
      await dir.cleanup();
    }
  });
});
