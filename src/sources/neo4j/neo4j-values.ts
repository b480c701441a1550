/**
 * Property values of the online export as JSON, losslessly: Neo4j tells integers (64-bit) from
 * floats, and has bytes, temporal and spatial types that JSON lacks. Strings, booleans and
 * finite floats stay plain JSON; everything else is an object with one `$`-key naming its type
 * and its fields, so a value comes back as the same Neo4j type (a float 1.0 stays a float, an
 * integer beyond 2^53 keeps every digit). Keys are written sorted, so equal graphs export equal
 * bytes.
 */
import neo4j from 'neo4j-driver';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const n = (v: unknown): number => (neo4j.isInt(v) ? v.toNumber() : Number(v));
const i = (v: unknown): string => String(v);

/** A driver value (property or list of them) as JSON. */
export function encodeValue(v: unknown): Json {
  if (v === null || v === undefined) return null;
  if (typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'number') return Number.isFinite(v) ? v : { $float: String(v) };
  if (neo4j.isInt(v)) return { $int: v.toString() };
  if (typeof v === 'bigint') return { $int: v.toString() };
  if (v instanceof Uint8Array) return { $bytes: Buffer.from(v).toString('base64') };
  if (Array.isArray(v)) return v.map(encodeValue);
  if (neo4j.isDate(v)) return { $date: [n(v.year), n(v.month), n(v.day)] };
  if (neo4j.isLocalTime(v)) return { $localtime: [n(v.hour), n(v.minute), n(v.second), n(v.nanosecond)] };
  if (neo4j.isTime(v)) return { $time: [n(v.hour), n(v.minute), n(v.second), n(v.nanosecond), n(v.timeZoneOffsetSeconds)] };
  if (neo4j.isLocalDateTime(v)) return { $localdatetime: [n(v.year), n(v.month), n(v.day), n(v.hour), n(v.minute), n(v.second), n(v.nanosecond)] };
  if (neo4j.isDateTime(v)) {
    return { $datetime: [n(v.year), n(v.month), n(v.day), n(v.hour), n(v.minute), n(v.second), n(v.nanosecond), v.timeZoneOffsetSeconds === undefined ? null : n(v.timeZoneOffsetSeconds), v.timeZoneId ?? null] };
  }
  if (neo4j.isDuration(v)) return { $duration: [i(v.months), i(v.days), i(v.seconds), i(v.nanoseconds)] };
  if (neo4j.isPoint(v)) return { $point: v.z === undefined ? [n(v.srid), v.x, v.y] : [n(v.srid), v.x, v.y, v.z] };
  throw new TypeError(`a property value of an unsupported type (${Object.prototype.toString.call(v)})`);
}

/** Properties as JSON with sorted keys. */
export function encodeProperties(props: Readonly<Record<string, unknown>>): Record<string, Json> {
  return Object.fromEntries(Object.keys(props).sort().map((k) => [k, encodeValue(props[k])]));
}

/** The inverse of encodeValue: JSON back into values the driver sends as the same Neo4j types. */
export function decodeValue(j: Json): unknown {
  if (j === null || typeof j !== 'object') return j;
  if (Array.isArray(j)) return j.map(decodeValue);
  const [tag] = Object.keys(j);
  const f = j[tag] as Json[];
  const int = (x: Json): ReturnType<typeof neo4j.int> => neo4j.int(x as number | string);
  switch (tag) {
    case '$float': return Number(j.$float);
    case '$int': return neo4j.int(j.$int as string);
    case '$bytes': return new Uint8Array(Buffer.from(j.$bytes as string, 'base64'));
    case '$date': return new neo4j.Date(int(f[0]), int(f[1]), int(f[2]));
    case '$localtime': return new neo4j.LocalTime(int(f[0]), int(f[1]), int(f[2]), int(f[3]));
    case '$time': return new neo4j.Time(int(f[0]), int(f[1]), int(f[2]), int(f[3]), int(f[4]));
    case '$localdatetime': return new neo4j.LocalDateTime(int(f[0]), int(f[1]), int(f[2]), int(f[3]), int(f[4]), int(f[5]), int(f[6]));
    case '$datetime':
      return new neo4j.DateTime(int(f[0]), int(f[1]), int(f[2]), int(f[3]), int(f[4]), int(f[5]), int(f[6]),
        f[7] === null ? undefined : int(f[7]), (f[8] as string | null) ?? undefined);
    case '$duration': return new neo4j.Duration(int(f[0]), int(f[1]), int(f[2]), int(f[3]));
    case '$point': return f.length === 4 ? new neo4j.Point(int(f[0]), f[1] as number, f[2] as number, f[3] as number) : new neo4j.Point(int(f[0]), f[1] as number, f[2] as number);
    default: throw new TypeError(`unknown value tag ${JSON.stringify(tag)}`);
  }
}

export function decodeProperties(j: Readonly<Record<string, Json>>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(j).map(([k, v]) => [k, decodeValue(v)]));
}

export type { Json };
