/**
 * IDs: every file and blob in a repository is named by the SHA-256 of its bytes, written as
 * 64 lowercase hex characters (restic's "storage ID" / "plaintext ID").
 */
import { hash, randomBytes } from 'node:crypto';

export type Id = string;

export const ID_LENGTH = 32;
const ID_RE = /^[0-9a-f]{64}$/;

export function isId(s: string): boolean {
  return ID_RE.test(s);
}

/** SHA-256 of `data` as an ID. */
export function idOf(data: Uint8Array): Id {
  return hash('sha256', data, 'hex');
}

/** SHA-256 of `data` as 32 raw bytes. */
export function sha256(data: Uint8Array): Buffer {
  return hash('sha256', data, 'buffer') as Buffer;
}

export function randomId(): Id {
  return randomBytes(ID_LENGTH).toString('hex');
}

/** The 8-character form restic prints. */
export function shortId(id: Id): string {
  return id.slice(0, 8);
}
