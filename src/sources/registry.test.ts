import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sourceTypes } from './registry.ts';

test('every source type declares its own path keys, and each names a key of its schema', () => {
  const declared = Object.fromEntries([...sourceTypes].map(([name, t]) => [name, t.pathKeys ?? []]));
  assert.deepEqual(declared, {
    postgres: ['bin_dir'],
    mysql: ['bin_dir', 'connection.socket'],
    redis: ['tls.ca_file', 'data_dir', 'program:redis_server_bin'],
    sqlite: ['path', 'restore.to'],
    files: ['paths', 'restore.to'],
    volume: [],
    command: [],
    qdrant: [],
    wikijs: ['database.bin_dir'],
    n8n: ['program:n8n_bin'],
    opensearch: [],
    neo4j: [],
    vault: ['program:server_bin'],
    victoriametrics: ['data_dir', 'program:server_bin'],
    s3: [],
    gitea: [],
  });
  for (const [name, t] of sourceTypes) {
    for (const key of t.pathKeys ?? []) {
      const first = key.replace(/^program:/, '').split('.')[0] as string;
      assert.ok(first === 'restore' || first in t.keys, `${name}: path key ${key} is not in its schema`);
    }
  }
});
