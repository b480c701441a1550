// The compact master index against a plain model (a map of locations): random packs added
// and removed, duplicates across packs, both blob types under one ID, and the rebuild that
// drops deleted entries. Every question the index answers is asked of both.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { MasterIndex } from './master-index.ts';
import type { BlobLocation } from './master-index.ts';
import type { BlobType, PackedBlob } from '../pack/pack-format.ts';

const hex = (n: number): string => createHash('sha256').update(String(n)).digest('hex');

/** A deterministic generator (mulberry32), so a failure can be replayed. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Model {
  readonly packs = new Map<string, BlobLocation[]>();
  add(packId: string, blobs: readonly PackedBlob[]): void {
    if (!this.packs.has(packId)) this.packs.set(packId, blobs.map((b) => ({ ...b, packId })));
  }
  remove(packId: string): void {
    this.packs.delete(packId);
  }
  lookup(type: BlobType, id: string): BlobLocation[] {
    return [...this.packs.values()].flat().filter((l) => l.type === type && l.id === id);
  }
  get distinct(): number {
    return new Set([...this.packs.values()].flat().map((l) => `${l.type}${l.id}`)).size;
  }
}

test('the compact index answers as a plain map of locations does, through adds, removes and rebuilds', () => {
  const next = rng(42);
  const idx = new MasterIndex();
  const model = new Model();
  const ids = Array.from({ length: 3000 }, (_, i) => hex(i));
  const packIds: string[] = [];
  for (let round = 0; round < 400; round++) {
    if (next() < 0.7 || packIds.length === 0) {
      const packId = hex(1e6 + round);
      const blobs: PackedBlob[] = [];
      let offset = 0;
      for (let i = 0, n = 1 + Math.floor(next() * 40); i < n; i++) {
        const length = 40 + Math.floor(next() * 5000);
        const compressed = next() < 0.5;
        // IDs repeat across packs (copies) and appear as both types.
        blobs.push({ id: ids[Math.floor(next() * ids.length)] as string, type: next() < 0.8 ? 'data' : 'tree', offset, length, ...(compressed ? { uncompressedLength: length * 3 } : {}) });
        offset += length;
      }
      idx.addPack(packId, blobs);
      model.add(packId, blobs);
      packIds.push(packId);
    } else {
      const packId = packIds.splice(Math.floor(next() * packIds.length), 1)[0] as string;
      idx.removePack(packId);
      model.remove(packId);
    }
    if (round % 50 === 49) {
      for (const id of ids.slice(0, 600)) {
        for (const type of ['data', 'tree'] as const) {
          const want = model.lookup(type, id);
          assert.deepEqual(idx.lookup(type, id), want, `lookup ${type} ${id} in round ${round}`);
          assert.equal(idx.has(type, id), want.length > 0);
        }
      }
      assert.equal(idx.blobCount, model.distinct);
      assert.equal(idx.packCount, model.packs.size);
      assert.deepEqual(new Map(idx.packs()), model.packs);
      for (const p of packIds.slice(0, 5)) assert.deepEqual(idx.packBlobs(p), model.packs.get(p));
      const all = [...idx.blobs()].map((l) => `${l.packId}${l.type}${l.id}${l.offset}`).sort();
      assert.deepEqual(all, [...model.packs.values()].flat().map((l) => `${l.packId}${l.type}${l.id}${l.offset}`).sort());
    }
  }
  // Remove all but a few packs (deleted entries then far outnumber live ones: rebuilds).
  for (const p of packIds.splice(3)) {
    idx.removePack(p);
    model.remove(p);
  }
  for (const id of ids) for (const type of ['data', 'tree'] as const) assert.deepEqual(idx.lookup(type, id), model.lookup(type, id));
  assert.equal(idx.blobCount, model.distinct);
  assert.deepEqual(new Map(idx.packs()), model.packs);
});

test('IDs that are not 64 hex digits are never found and never stored', () => {
  const idx = new MasterIndex();
  const id = hex(1);
  idx.addPack(hex(2), [{ id, type: 'data', offset: 0, length: 10 }]);
  assert.equal(idx.has('data', id), true);
  assert.equal(idx.has('data', id.toUpperCase()), true);
  for (const bad of ['', id.slice(0, 63), `${id.slice(0, 62)}zz`, `${id}00`]) {
    assert.equal(idx.has('data', bad), false, bad);
    assert.deepEqual(idx.lookup('data', bad), []);
  }
  assert.throws(() => idx.addPack(hex(3), [{ id: 'nope', type: 'data', offset: 0, length: 1 }]), RangeError);
  assert.throws(() => idx.addPack(hex(4), [{ id, type: 'data', offset: -1, length: 1 }]), RangeError);
  assert.equal(idx.packCount, 1);
});

test('a pack added twice is kept once; a removed pack is gone from every answer', () => {
  const idx = new MasterIndex();
  const id = hex(7);
  idx.addPack(hex(8), [{ id, type: 'tree', offset: 0, length: 5 }]);
  idx.addPack(hex(8), [{ id, type: 'tree', offset: 0, length: 5 }]);
  idx.addPack(hex(9), [{ id, type: 'tree', offset: 100, length: 5 }]);
  assert.equal(idx.lookup('tree', id).length, 2);
  assert.equal(idx.blobCount, 1);
  idx.removePack(hex(8));
  assert.deepEqual(idx.lookup('tree', id), [{ id, type: 'tree', offset: 100, length: 5, packId: hex(9) }]);
  idx.removePack(hex(9));
  assert.equal(idx.has('tree', id), false);
  assert.equal(idx.blobCount, 0);
  assert.equal(idx.packCount, 0);
  assert.equal(idx.packBlobs(hex(9)), undefined);
});
