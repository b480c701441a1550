/**
 * Key files: how a password unlocks the repository's master key, in restic's format.
 *
 * Each file `keys/<id>` (id = SHA-256 of the file's bytes) is plain JSON: who created it
 * (`created`, `username`, `hostname`), the KDF and its cost (`kdf: "scrypt"`, `N`, `r`, `p`),
 * a random 64-byte `salt` and `data`, the master key's JSON sealed with a *user key*. The user
 * key is scrypt(password, salt, N, r, p) → 64 bytes, split as AES-256 key (32) || MAC k (16) ||
 * MAC r (16), i.e. the same shape as a master key. A wrong password shows up as a MAC mismatch
 * when opening `data`.
 *
 * Several key files may hold the same master key under different passwords; changing a
 * password means adding a key file and removing the old one, never re-encrypting data.
 */
import { createHash, randomBytes, scrypt } from 'node:crypto';
import { hostname as osHostname, userInfo } from 'node:os';
import { CancelledError, IntegrityError, LifeboatError, NotFoundError, WrongPasswordError, errorMessage } from '../../core/errors.ts';
import type { Handle, Storage } from '../../storage/storage.ts';
import { clampPoly1305R, initCrypto, masterKeyFromJSON, masterKeyToJSON, open, seal } from '../crypto/crypto.ts';
import type { MasterKey } from '../crypto/crypto.ts';
import { nowDate } from '../../util/clock.ts';

export interface ScryptParams {
  N: number;
  r: number;
  p: number;
}

/**
 * What restic 0.14's own calibration (500 ms, 60 MiB) wrote into the key of a repository it
 * created on the benchmark machine (bench/): 16 MiB of memory, and one derivation takes
 * about 0.3 s with node:crypto there. Every command that opens the repository pays it once.
 */
export const DEFAULT_SCRYPT: ScryptParams = { N: 16384, r: 8, p: 4 };

export interface KeyInfo {
  id: string;
  username: string;
  hostname: string;
  created: string;
  /** Set when the key file could not be parsed: why. The other fields are then empty. */
  damaged?: string;
}

/** The parsed JSON of a key file (restic's field names). */
interface KeyFile {
  created: string;
  username: string;
  hostname: string;
  kdf: string;
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  data: Buffer;
}

const SALT_SIZE = 64; // restic refuses any other salt length
const ID_RE = /^[0-9a-f]{64}$/;
// A key file is read before we trust it: refuse costs that would exhaust memory (1 GiB).
const MAX_SCRYPT_MEMORY = 1 << 30;

const keyHandle = (name: string): Handle => ({ type: 'keys', name });

function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new CancelledError('operation cancelled while handling key files', { cause: signal.reason });
}

function checkScryptParams(p: ScryptParams): string | undefined {
  const { N, r, p: par } = p;
  if (!Number.isSafeInteger(N) || N <= 1 || (N & (N - 1)) !== 0) return `scrypt N=${N} is not a power of two above 1`;
  if (!Number.isSafeInteger(r) || r < 1) return `scrypt r=${r} is not a positive integer`;
  if (!Number.isSafeInteger(par) || par < 1) return `scrypt p=${par} is not a positive integer`;
  if (r * par >= 2 ** 30) return `scrypt r*p=${r * par} is too large`;
  if (128 * N * r > MAX_SCRYPT_MEMORY) return `scrypt N=${N} r=${r} needs more than 1 GiB of memory`;
  return undefined;
}

/** scrypt → user key, split and clamped the way restic does. */
async function deriveUserKey(password: string, salt: Buffer, params: ScryptParams): Promise<MasterKey> {
  // Node refuses to run scrypt above `maxmem`; the V array alone is 128*N*r bytes.
  const maxmem = 128 * params.N * params.r + 128 * params.r * params.p + (32 << 20);
  const out = await new Promise<Buffer>((resolve, reject) => {
    scrypt(password, salt, 64, { N: params.N, r: params.r, p: params.p, maxmem }, (err, key) => (err ? reject(err) : resolve(key)));
  });
  const r = Buffer.from(out.subarray(48, 64));
  clampPoly1305R(r);
  return { encrypt: Buffer.from(out.subarray(0, 32)), mac: { k: Buffer.from(out.subarray(32, 48)), r } };
}

/** Parses and validates a key file's bytes; throws IntegrityError naming what is wrong. */
function parseKeyFile(id: string, bytes: Buffer): KeyFile {
  const bad = (what: string, cause?: unknown): IntegrityError =>
    new IntegrityError(`key file keys/${id} is damaged: ${what}`, {
      hint: 'remove the damaged key file if another key opens the repository',
      data: { key: id },
      cause,
    });
  let j: unknown;
  try {
    j = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw bad('not valid JSON', err);
  }
  if (typeof j !== 'object' || j === null || Array.isArray(j)) throw bad('not a JSON object');
  const o = j as Record<string, unknown>;
  const str = (name: string): string => {
    const v = o[name];
    // restic writes every field; tolerate missing informational ones as empty.
    if (v === undefined || v === null) return '';
    if (typeof v !== 'string') throw bad(`"${name}" is not a string`);
    return v;
  };
  const int = (name: string): number => {
    const v = o[name];
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw bad(`"${name}" is not an integer`);
    return v;
  };
  const b64 = (name: string): Buffer => {
    const v = o[name];
    if (typeof v !== 'string' || v.length === 0) throw bad(`"${name}" is missing`);
    return Buffer.from(v, 'base64');
  };
  const kf: KeyFile = {
    created: str('created'),
    username: str('username'),
    hostname: str('hostname'),
    kdf: str('kdf'),
    N: int('N'),
    r: int('r'),
    p: int('p'),
    salt: b64('salt'),
    data: b64('data'),
  };
  if (kf.kdf !== 'scrypt') throw bad(`unsupported KDF "${kf.kdf}" (only scrypt is known)`);
  const paramProblem = checkScryptParams(kf);
  if (paramProblem !== undefined) throw bad(paramProblem);
  if (kf.salt.length !== SALT_SIZE) throw bad(`salt is ${kf.salt.length} bytes, ${SALT_SIZE} expected`);
  return kf;
}

export async function addKey(
  storage: Storage,
  password: string,
  master: MasterKey,
  opts: { hostname?: string; username?: string; now?: Date; scrypt?: ScryptParams; signal?: AbortSignal } = {},
): Promise<string> {
  const params = opts.scrypt ?? DEFAULT_SCRYPT;
  const problem = checkScryptParams(params);
  if (problem !== undefined) throw new LifeboatError('invalid_argument', `cannot add a key: ${problem}`);
  await initCrypto();
  checkAborted(opts.signal);
  const salt = randomBytes(SALT_SIZE);
  const user = await deriveUserKey(password, salt, params);
  checkAborted(opts.signal);
  const data = seal(user, Buffer.from(JSON.stringify(masterKeyToJSON(master))));
  // Field order as restic writes it, so files look alike whichever tool wrote them.
  const file = {
    created: (opts.now ?? nowDate()).toISOString(),
    username: opts.username ?? currentUsername(),
    hostname: opts.hostname ?? osHostname(),
    kdf: 'scrypt',
    N: params.N,
    r: params.r,
    p: params.p,
    salt: salt.toString('base64'),
    data: data.toString('base64'),
  };
  const bytes = Buffer.from(JSON.stringify(file));
  const id = createHash('sha256').update(bytes).digest('hex');
  await storage.save(keyHandle(id), bytes, { signal: opts.signal });
  return id;
}

function currentUsername(): string {
  try {
    return userInfo().username;
  } catch {
    return ''; // no passwd entry (some containers): restic leaves it empty too
  }
}

async function listKeyIds(storage: Storage, signal: AbortSignal | undefined): Promise<string[]> {
  const ids: string[] = [];
  for await (const fi of storage.list('keys', { signal })) {
    // Like restic, ignore stray files whose name is not an ID.
    if (ID_RE.test(fi.name)) ids.push(fi.name);
  }
  return ids.sort();
}

/** Loads a key file; undefined when it vanished meanwhile (removed concurrently). */
async function loadKeyFile(storage: Storage, id: string, signal: AbortSignal | undefined): Promise<Buffer | undefined> {
  try {
    return await storage.load(keyHandle(id), { signal });
  } catch (err) {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  }
}

export async function openKey(
  storage: Storage,
  password: string,
  opts: { keyHint?: string; signal?: AbortSignal; skip?: ReadonlySet<string> } = {},
): Promise<{ id: string; master: MasterKey }> {
  const { signal } = opts;
  await initCrypto();
  const ids = (await listKeyIds(storage, signal)).filter((id) => !opts.skip?.has(id));
  // A hint (full ID or unique prefix) only changes the order: restic also falls back to the rest.
  const hint = opts.keyHint?.toLowerCase();
  if (hint !== undefined && hint !== '') {
    const hinted = ids.filter((id) => id.startsWith(hint));
    if (hinted.length === 1) ids.sort((a, b) => Number(b === hinted[0]) - Number(a === hinted[0]));
  }
  const damaged: Array<{ id: string; reason: string }> = [];
  for (const id of ids) {
    checkAborted(signal);
    const bytes = await loadKeyFile(storage, id, signal);
    if (bytes === undefined) continue;
    let kf: KeyFile;
    try {
      kf = parseKeyFile(id, bytes);
    } catch (err) {
      damaged.push({ id, reason: errorMessage(err) });
      continue;
    }
    const user = await deriveUserKey(password, kf.salt, kf);
    let plain: Buffer;
    try {
      plain = open(user, kf.data);
    } catch {
      continue; // MAC mismatch: another password's key file (or a tampered one)
    }
    try {
      return { id, master: masterKeyFromJSON(JSON.parse(plain.toString('utf8'))) };
    } catch (err) {
      // The password was right but the content is not a key: worth telling, not fatal.
      damaged.push({ id, reason: `holds no valid master key (${errorMessage(err)})` });
    }
  }
  if (damaged.length > 0) {
    const names = damaged.map((d) => `keys/${d.id.slice(0, 8)}`).join(', ');
    throw new WrongPasswordError(
      `wrong password or no key found: ${ids.length} key file(s) tried, ${damaged.length} of them damaged and skipped (${names})`,
      { data: { tried: ids.length, damaged } },
    );
  }
  if (ids.length === 0) {
    throw new WrongPasswordError('no key file found in the repository (keys/ is empty)', {
      hint: 'check that the repository location is right and was initialised',
      data: { tried: 0 },
    });
  }
  throw new WrongPasswordError(undefined, { data: { tried: ids.length } });
}

export async function listKeys(storage: Storage, opts: { signal?: AbortSignal } = {}): Promise<KeyInfo[]> {
  const out: KeyInfo[] = [];
  for (const id of await listKeyIds(storage, opts.signal)) {
    checkAborted(opts.signal);
    const bytes = await loadKeyFile(storage, id, opts.signal);
    if (bytes === undefined) continue;
    try {
      const kf = parseKeyFile(id, bytes);
      out.push({ id, username: kf.username, hostname: kf.hostname, created: kf.created });
    } catch (err) {
      out.push({ id, username: '', hostname: '', created: '', damaged: errorMessage(err) });
    }
  }
  return out.sort((a, b) => (a.created < b.created ? -1 : a.created > b.created ? 1 : a.id < b.id ? -1 : 1));
}

/**
 * Removes a key file by ID or unique ID prefix. Refuses to remove the last key file: that
 * would leave a repository nobody can ever open again.
 */
export async function removeKey(storage: Storage, id: string, opts: { signal?: AbortSignal } = {}): Promise<void> {
  const ids = await listKeyIds(storage, opts.signal);
  const prefix = id.toLowerCase();
  const matches = prefix === '' ? [] : ids.filter((k) => k.startsWith(prefix));
  if (matches.length === 0) {
    throw new NotFoundError(`key ${id} not found`, { hint: 'list the keys to see their IDs', data: { key: id } });
  }
  if (matches.length > 1) {
    throw new LifeboatError('ambiguous', `key prefix ${id} matches ${matches.length} keys`, {
      hint: 'give more characters of the key ID',
      data: { key: id, matches },
    });
  }
  if (ids.length === 1) {
    throw new LifeboatError('last_key', `refusing to remove keys/${matches[0]}: it is the repository's only key`, {
      hint: 'add another key first, otherwise the repository could never be opened again',
      data: { key: matches[0] },
    });
  }
  await storage.remove(keyHandle(matches[0]), { signal: opts.signal });
}
