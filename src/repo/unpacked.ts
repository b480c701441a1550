/**
 * The "unpacked data format" of restic's repository: index, snapshot and lock files are one
 * encrypted JSON document each. In format v2 the plaintext starts with an encoding byte: 2
 * means zstd-compressed JSON follows; '{' or '[' means the whole plaintext is plain JSON
 * (format v1, and what restic still accepts in v2).
 */
import { IntegrityError } from '../core/errors.ts';
import { compressSync, decompressSync } from './compression.ts';

const ENCODING_ZSTD = 2;

export function encodeUnpacked(doc: unknown, version: number): Buffer {
  const json = Buffer.from(JSON.stringify(doc), 'utf8');
  if (version < 2) return json;
  return Buffer.concat([Buffer.of(ENCODING_ZSTD), compressSync(json)]);
}

export function decodeUnpacked(plain: Buffer, what: string): unknown {
  if (plain.length === 0) throw new IntegrityError(`${what} is empty`);
  const first = plain[0];
  let json: Buffer;
  if (first === 0x7b || first === 0x5b) json = plain;
  else if (first === ENCODING_ZSTD) json = decompressSync(plain.subarray(1), what);
  else throw new IntegrityError(`${what} has unknown encoding version ${first}`);
  try {
    return JSON.parse(json.toString('utf8'));
  } catch (err) {
    throw new IntegrityError(`${what} is not valid JSON`, { cause: err });
  }
}
