// The online export's value codec: each Neo4j type comes back as the same driver type with the
// same fields, integers beyond 2^53 keep every digit, floats stay floats, and keys are sorted.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import neo4j from 'neo4j-driver';
import { decodeValue, encodeProperties, encodeValue } from './neo4j-values.ts';

const samples: Record<string, unknown> = {
  big: neo4j.int('9007199254740993'),
  float: 1,
  nan: Number.NaN,
  bytes: new Uint8Array([0, 255, 7]),
  list: [neo4j.int(1), neo4j.int(2)],
  date: new neo4j.Date(2024, 2, 29),
  localtime: new neo4j.LocalTime(12, 34, 56, 123456789),
  time: new neo4j.Time(12, 34, 56, 0, 7200),
  localdatetime: new neo4j.LocalDateTime(2024, 2, 29, 12, 34, 56, 500000000),
  datetime: new neo4j.DateTime(2024, 2, 29, 12, 34, 56, 500000000, 3600),
  zoned: new neo4j.DateTime(2024, 7, 1, 9, 0, 0, 0, 7200, 'Europe/Berlin'),
  duration: new neo4j.Duration(14, 3, 14706, 700000000),
  point2: new neo4j.Point(neo4j.int(7203), 1.5, 2.5),
  point3: new neo4j.Point(neo4j.int(4979), 13.4, 52.5, 34),
};

test('every value survives JSON as the same type and fields', () => {
  for (const [k, v] of Object.entries(samples)) {
    const back = decodeValue(JSON.parse(JSON.stringify(encodeValue(v))));
    assert.equal(Object.prototype.toString.call(back), Object.prototype.toString.call(v), k);
    assert.equal(String(back), String(v), k);
    if (v !== null && typeof v === 'object' && !(v instanceof Uint8Array)) assert.equal((back as object).constructor, (v as object).constructor, k);
  }
  assert.deepEqual(decodeValue(encodeValue(samples.bytes)), samples.bytes);
  assert.equal((decodeValue(encodeValue(samples.big)) as ReturnType<typeof neo4j.int>).toString(), '9007199254740993');
  assert.equal(typeof decodeValue(encodeValue(1)), 'number', 'a float stays a JS number, which the driver sends as a float');
});

test('properties are written with sorted keys; an unknown type is refused by name', () => {
  assert.equal(JSON.stringify(encodeProperties({ b: 1, a: neo4j.int(2) })), '{"a":{"$int":"2"},"b":1}');
  assert.throws(() => encodeValue(new Map()), /unsupported type \(\[object Map\]\)/);
  assert.throws(() => decodeValue({ $nope: 1 }), /unknown value tag "\$nope"/);
});
