// Names and link targets that are not UTF-8 survive the tree format byte for byte, stored the
// way restic stores them: a Go-quoted name (`\xff`) and a base64 `linktarget_raw`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { compareNames, decodeTree, encodeTree } from './node.ts';
import type { TreeNode } from './node.ts';
import { nameFromBytes, nameToBytes } from './raw-names.ts';

test('any bytes map to a string and back unchanged; valid UTF-8 stays plain text', () => {
  const samples = [Buffer.from('plain'), Buffer.from('h\u00e9 \u{1F600} \uFFFD'), Buffer.from([0x66, 0xff, 0x6f]), Buffer.from([0xed, 0xb2, 0x80]), Buffer.from([0xc3]), Buffer.from([0xf0, 0x9f, 0x98])];
  for (let i = 0; i < 500; i++) samples.push(randomBytes(1 + (i % 24)));
  for (const b of samples) assert.ok(nameToBytes(nameFromBytes(b)).equals(b), b.toString('hex'));
  assert.equal(nameFromBytes(Buffer.from('h\u00e9 \u{1F600} \uFFFD')), 'h\u00e9 \u{1F600} \uFFFD');
  // Different bytes never give equal strings, and order is byte order.
  assert.notEqual(nameFromBytes(Buffer.from([0x61, 0xfe])), nameFromBytes(Buffer.from([0x61, 0xff])));
  assert.ok(compareNames(nameFromBytes(Buffer.from([0x61, 0xfe])), nameFromBytes(Buffer.from([0x61, 0xff]))) < 0);
  assert.ok(compareNames('\u{1F600}', '\uFFFD') > 0, 'UTF-8 byte order, not UTF-16 order');
});

test('a raw name is stored Go-quoted and a raw link target in linktarget_raw, as restic does', () => {
  const name = nameFromBytes(Buffer.from([0x66, 0xff, 0x6f]));
  const target = nameFromBytes(Buffer.from([0x2f, 0x74, 0xfe, 0x0a]));
  const node: TreeNode = { name, type: 'symlink', mode: 0x08000000 | 0o777, uid: 0, gid: 0, linktarget: target, content: null };
  const bytes = encodeTree({ nodes: [node] });
  const doc = JSON.parse(bytes.toString()) as { nodes: Array<Record<string, unknown>> };
  assert.equal(doc.nodes[0]?.name, 'f\\xffo');
  assert.equal(doc.nodes[0]?.linktarget_raw, Buffer.from([0x2f, 0x74, 0xfe, 0x0a]).toString('base64'));
  assert.equal(doc.nodes[0]?.linktarget, '/t\uFFFD\n');
  const back = decodeTree(bytes, 'tree t');
  assert.ok(nameToBytes(back.nodes[0]?.name ?? '').equals(Buffer.from([0x66, 0xff, 0x6f])));
  assert.ok(nameToBytes(back.nodes[0]?.linktarget ?? '').equals(Buffer.from([0x2f, 0x74, 0xfe, 0x0a])));
  assert.equal('linktarget_raw' in (back.nodes[0] as object), false);
});
