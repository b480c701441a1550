/**
 * The fingerprint of a Redis/Valkey data set: key and expiring-key counts per database (INFO
 * keyspace) plus a deterministic sample of keys, each with its type, whether it has a TTL
 * (not the TTL itself, which ticks) and a digest of its value.
 *
 * The sample is the `sampleKeys` smallest keys of each database in byte order. SCAN order
 * depends on the server's hash table layout and seed, so it differs after a restore; the
 * smallest keys do not. Finding them takes one full SCAN pass per database (incremental,
 * non-blocking, memory bounded by the sample size), the same order of work as the RDB
 * transfer itself, whatever the key count.
 *
 * Value digests are type-aware rather than DUMP payloads, which embed the RDB version and
 * encoding and so differ across server versions: GET for strings (GETRANGE windows above
 * 1 MiB, so a huge value is never held whole), LRANGE for lists, sorted
 * SMEMBERS / HGETALL, ZRANGE WITHSCORES (scores normalised as numbers, since servers format
 * doubles differently across versions) and XRANGE for streams. A collection larger than
 * LARGE_COLLECTION is digested by its size and first PARTIAL_ELEMENTS elements in its own
 * order (lists, sorted sets, streams) or by its size only (sets, hashes), so one huge key
 * cannot make a fingerprint cost as much as a dump.
 */
import { createHash, type Hash } from 'node:crypto';
import type { Fingerprint } from '../../core/source.ts';
import { SourceError } from '../../core/errors.ts';
import type { RedisClient } from './redis-client.ts';
import { RespError, replyText, type RespValue } from './resp.ts';

const SCAN_COUNT = 1000;
const LARGE_COLLECTION = 10_000;
const PARTIAL_ELEMENTS = 1000;
const STRING_WINDOW = 1024 * 1024;

export interface SampledKey {
  /** The key as UTF-8 text, or `keyHex` when it is not valid UTF-8. */
  readonly key?: string;
  readonly keyHex?: string;
  readonly type: string;
  readonly ttl: boolean;
  readonly size?: number;
  /** sha256 (first 128 bits, hex) of the value in canonical form; null for module types. */
  readonly digest: string | null;
  /** True when only size and a prefix were digested (see LARGE_COLLECTION). */
  readonly partial?: true;
}

export interface DbFingerprint {
  readonly keys: number;
  readonly expires: number;
  readonly sample?: readonly SampledKey[];
}

/** Key counts per database from INFO keyspace: "db3:keys=5,expires=1,avg_ttl=0". */
export function parseKeyspace(info: ReadonlyMap<string, string>): Map<number, { keys: number; expires: number }> {
  const out = new Map<number, { keys: number; expires: number }>();
  for (const [field, value] of info) {
    const m = /^db(\d+)$/.exec(field);
    if (!m) continue;
    const kv = new Map(value.split(',').map((p) => p.split('=') as [string, string]));
    out.set(Number(m[1]), { keys: Number(kv.get('keys') ?? 0), expires: Number(kv.get('expires') ?? 0) });
  }
  return out;
}

/** Keeps the n smallest distinct keys (byte order) seen: SCAN may return a key twice. */
export class SmallestKeys {
  readonly #n: number;
  readonly #keys: Buffer[] = [];
  constructor(n: number) {
    this.#n = n;
  }
  offer(key: Buffer): void {
    const keys = this.#keys;
    if (this.#n === 0) return;
    if (keys.length === this.#n && Buffer.compare(key, keys[keys.length - 1]) >= 0) return;
    let lo = 0;
    let hi = keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (Buffer.compare(keys[mid], key) < 0) lo = mid + 1;
      else hi = mid;
    }
    if (lo < keys.length && keys[lo].equals(key)) return;
    keys.splice(lo, 0, Buffer.from(key));
    if (keys.length > this.#n) keys.pop();
  }
  get keys(): readonly Buffer[] {
    return this.#keys;
  }
}

export async function fingerprintRedis(client: RedisClient, sampleKeys: number): Promise<Fingerprint> {
  const keyspace = parseKeyspace(await client.info('keyspace'));
  const dbs: Record<string, DbFingerprint> = {};
  for (const db of [...keyspace.keys()].sort((a, b) => a - b)) {
    const counts = keyspace.get(db) ?? { keys: 0, expires: 0 };
    if (counts.keys === 0) continue;
    if (sampleKeys === 0) {
      dbs[String(db)] = counts;
      continue;
    }
    await client.command('SELECT', db);
    const smallest = new SmallestKeys(sampleKeys);
    let cursor = '0';
    do {
      const reply = await client.command('SCAN', cursor, 'COUNT', SCAN_COUNT);
      if (!Array.isArray(reply) || reply.length !== 2 || !Array.isArray(reply[1])) throw new SourceError(`${client.what}: unexpected SCAN reply`);
      cursor = replyText(reply[0]) ?? '0';
      for (const k of reply[1]) if (Buffer.isBuffer(k)) smallest.offer(k);
    } while (cursor !== '0');
    const sample: SampledKey[] = [];
    for (const key of smallest.keys) {
      const s = await sampleKey(client, key);
      if (s !== undefined) sample.push(s);
    }
    dbs[String(db)] = { ...counts, sample };
  }
  return { dbs };
}

async function sampleKey(client: RedisClient, key: Buffer): Promise<SampledKey | undefined> {
  const [typeReply, pttl] = await Promise.all([client.command('TYPE', key), client.command('PTTL', key)]);
  const type = replyText(typeReply) ?? 'unknown';
  if (type === 'none' || pttl === -2) return undefined; // expired or deleted since SCAN
  const text = key.toString('utf8');
  const name = Buffer.from(text, 'utf8').equals(key) ? { key: text } : { keyHex: key.toString('hex') };
  const base = { ...name, type, ttl: typeof pttl === 'number' && pttl >= 0 };
  const h = createHash('sha256');
  const digest = () => h.digest('hex').slice(0, 32);
  const sized = async (cmd: string): Promise<number> => {
    const n = await client.command(cmd, key);
    return typeof n === 'number' ? n : 0;
  };
  switch (type) {
    case 'string': {
      const size = await sized('STRLEN');
      if (size <= STRING_WINDOW) canonical(h, await client.command('GET', key));
      else {
        // Same canonical form as a GET, fed in windows so a huge value is never held whole.
        h.update('B').update(u64(size));
        for (let at = 0; at < size; at += STRING_WINDOW) {
          const part = await client.command('GETRANGE', key, at, Math.min(at + STRING_WINDOW, size) - 1);
          if (Buffer.isBuffer(part)) h.update(part);
        }
      }
      return { ...base, digest: digest() };
    }
    case 'list': {
      const size = await sized('LLEN');
      const partial = size > LARGE_COLLECTION;
      canonical(h, await client.command('LRANGE', key, 0, partial ? PARTIAL_ELEMENTS - 1 : -1));
      return { ...base, size, digest: digest(), ...(partial ? { partial: true as const } : {}) };
    }
    case 'set': {
      const size = await sized('SCARD');
      if (size > LARGE_COLLECTION) return { ...base, size, digest: null, partial: true };
      canonical(h, sortBuffers(asArray(await client.command('SMEMBERS', key))));
      return { ...base, size, digest: digest() };
    }
    case 'hash': {
      const size = await sized('HLEN');
      if (size > LARGE_COLLECTION) return { ...base, size, digest: null, partial: true };
      const flat = asArray(await client.command('HGETALL', key));
      const pairs: Buffer[][] = [];
      for (let i = 0; i + 1 < flat.length; i += 2) pairs.push([flat[i] as Buffer, flat[i + 1] as Buffer]);
      pairs.sort((a, b) => Buffer.compare(a[0], b[0]));
      canonical(h, pairs);
      return { ...base, size, digest: digest() };
    }
    case 'zset': {
      const size = await sized('ZCARD');
      const partial = size > LARGE_COLLECTION;
      const flat = asArray(await client.command('ZRANGE', key, 0, partial ? PARTIAL_ELEMENTS - 1 : -1, 'WITHSCORES'));
      canonical(h, flat.map((v, i) => (i % 2 === 1 ? normaliseScore(replyText(v) ?? '') : v)));
      return { ...base, size, digest: digest(), ...(partial ? { partial: true as const } : {}) };
    }
    case 'stream': {
      const size = await sized('XLEN');
      const partial = size > LARGE_COLLECTION;
      const args = partial ? ['XRANGE', key, '-', '+', 'COUNT', PARTIAL_ELEMENTS] : ['XRANGE', key, '-', '+'];
      canonical(h, await client.command(...args));
      return { ...base, size, digest: digest(), ...(partial ? { partial: true as const } : {}) };
    }
    default:
      // Module types (ReJSON-RL, TSDB-TYPE…): the type and TTL still count.
      return { ...base, digest: null };
  }
}

function asArray(v: RespValue): RespValue[] {
  return Array.isArray(v) ? v : [];
}

function sortBuffers(values: RespValue[]): RespValue[] {
  return [...values].sort((a, b) => Buffer.compare(a as Buffer, b as Buffer));
}

/** "1.1000000000000001" and "1.1" are the same double; "inf" spelled as the server likes. */
function normaliseScore(s: string): string {
  const lower = s.toLowerCase();
  if (lower === 'inf' || lower === '+inf') return 'inf';
  if (lower === '-inf') return '-inf';
  const n = Number(s);
  return Number.isNaN(n) ? s : String(n);
}

/** An unambiguous encoding of a reply tree: tagged, length-prefixed items. */
function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}

function canonical(h: Hash, v: RespValue | RespValue[][]): void {
  const len = u64;
  if (v === null) h.update('N');
  else if (v instanceof RespError) h.update('E').update(len(Buffer.byteLength(v.message))).update(v.message);
  else if (Array.isArray(v)) {
    h.update('A').update(len(v.length));
    for (const item of v) canonical(h, item as RespValue);
  } else if (Buffer.isBuffer(v)) h.update('B').update(len(v.length)).update(v);
  else if (typeof v === 'number') h.update('I').update(String(v));
  else h.update('S').update(len(Buffer.byteLength(v))).update(v);
}
