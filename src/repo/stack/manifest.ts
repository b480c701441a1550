/**
 * `/<source>/manifest.json` of a stack snapshot: what the source ran and produced, and the
 * fingerprint a restore is judged by. Versioned (docs/design.md, "Stack snapshots"): a reader
 * takes every version up to its own and refuses a newer one rather than misread it.
 */
import { IntegrityError, LifeboatError } from '../../core/errors.ts';
import type { StackManifest } from '../../core/snapshot-store.ts';

export const MANIFEST = 'manifest.json';
/** The manifest version this lifeboat writes and the newest it reads. */
export const MANIFEST_VERSION = 1;

export function encodeManifest(m: Omit<StackManifest, 'version'>): Buffer {
  return Buffer.from(JSON.stringify({ version: MANIFEST_VERSION, ...m }, null, 2) + '\n');
}

/** Parses a manifest; `what` names it in errors ("snapshot 1a2b3c4d"). */
export function parseManifest(bytes: Buffer, what: string): StackManifest {
  let raw: unknown;
  try {
    raw = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new IntegrityError(`${what}: ${MANIFEST} is not valid JSON`, { cause: err });
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new IntegrityError(`${what}: ${MANIFEST} is not a JSON object`);
  const m = raw as Record<string, unknown>;
  const version = m.version ?? 1;
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1) throw new IntegrityError(`${what}: ${MANIFEST} has an invalid version ${JSON.stringify(version)}`);
  if (version > MANIFEST_VERSION) {
    throw new LifeboatError('unsupported_manifest', `${what}: ${MANIFEST} is version ${version}, this lifeboat reads up to version ${MANIFEST_VERSION}`, {
      hint: 'restore it with a newer lifeboat',
      data: { version },
    });
  }
  return { ...(m as unknown as StackManifest), version };
}
