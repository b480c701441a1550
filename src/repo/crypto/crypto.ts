/**
 * Authenticated encryption in restic's format: AES-256-CTR for secrecy, Poly1305-AES for
 * integrity, laid out as `IV(16) || ciphertext || MAC(16)`.
 *
 * A master key holds three secrets: the 32-byte AES-256 encryption key, and the Poly1305-AES
 * MAC key `(k, r)` — `k` is an AES-128 key, `r` the Poly1305 multiplier. For each message the
 * random IV serves both as the CTR counter block and as the Poly1305-AES nonce: the one-time
 * Poly1305 key is `r || AES-128_k(IV)`. The MAC covers the ciphertext only (encrypt-then-MAC),
 * and `open` checks it before a single byte is decrypted.
 *
 * AES and randomness come from node:crypto (OpenSSL, hardware AES); raw Poly1305, which
 * node:crypto does not expose, from poly1305.ts (a small WebAssembly loop). `initCrypto()`
 * is kept for callers that await it before the first `seal`/`open`; it prepares that module.
 */
import { release } from '../../util/memory.ts';
import { createCipheriv, createDecipheriv, createSecretKey, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Cipheriv, KeyObject } from 'node:crypto';
import { IntegrityError } from '../../core/errors.ts';
import { poly1305 } from './poly1305.ts';

export interface MasterKey {
  readonly encrypt: Buffer;
  readonly mac: { readonly k: Buffer; readonly r: Buffer };
}

const IV_SIZE = 16;
const MAC_SIZE = 16;
const ENCRYPT_KEY_SIZE = 32;
const MAC_K_SIZE = 16;
const MAC_R_SIZE = 16;

/** Bytes a plaintext grows by when sealed: the IV in front, the MAC behind. */
export const CRYPTO_OVERHEAD = IV_SIZE + MAC_SIZE;

let ready = false;

export async function initCrypto(): Promise<void> {
  if (ready) return;
  // Compiles the Poly1305 module once, so a broken runtime fails here rather than mid-write.
  poly1305(new Uint8Array(0), new Uint8Array(32));
  ready = true;
}

function assertReady(): void {
  if (!ready) throw new Error('crypto used before initCrypto() resolved');
}

/**
 * Clears the bits Poly1305 requires to be zero in r. libsodium (like Go's poly1305) clamps
 * internally as well, so this changes no MAC; it only keeps stored keys in the canonical form
 * older restic versions wrote.
 */
export function clampPoly1305R(r: Buffer): void {
  r[3] &= 15;
  r[7] &= 15;
  r[11] &= 15;
  r[15] &= 15;
  r[4] &= 252;
  r[8] &= 252;
  r[12] &= 252;
}

export function newMasterKey(): MasterKey {
  const r = randomBytes(MAC_R_SIZE);
  clampPoly1305R(r);
  return { encrypt: randomBytes(ENCRYPT_KEY_SIZE), mac: { k: randomBytes(MAC_K_SIZE), r } };
}

/**
 * Per master key, what every message needs: the AES-256 key as a KeyObject (node:crypto
 * otherwise imports a raw key on each cipher it creates), and one AES-128-ECB cipher for the
 * Poly1305 nonces. ECB without padding maps each 16-byte block on its own, so one cipher
 * serves every nonce as long as `final()` is never called.
 */
interface KeyState {
  readonly encrypt: KeyObject;
  readonly ecb: Cipheriv;
  /** r || s scratch for the one-time Poly1305 key; s is rewritten for every message. */
  readonly oneTime: Uint8Array;
}

const states = new WeakMap<MasterKey, KeyState>();

function stateOf(key: MasterKey): KeyState {
  let st = states.get(key);
  if (!st) {
    const ecb = createCipheriv('aes-128-ecb', createSecretKey(key.mac.k), null);
    ecb.setAutoPadding(false);
    const oneTime = new Uint8Array(32);
    oneTime.set(key.mac.r, 0);
    st = { encrypt: createSecretKey(key.encrypt), ecb, oneTime };
    states.set(key, st);
  }
  return st;
}

/** The one-time Poly1305 key for this nonce: r || AES-128_k(nonce) (Poly1305-AES). */
function poly1305Key(st: KeyState, iv: Uint8Array): Uint8Array {
  st.oneTime.set(st.ecb.update(iv), 16);
  return st.oneTime;
}

/**
 * Random IVs, drawn from the CSPRNG a few hundred at a time: one randomBytes call per blob
 * cost more than the blob's AES on small files. Each IV is copied out and its bytes are
 * never handed out twice.
 */
const IV_POOL_SIZE = 256 * IV_SIZE;
let ivPool = Buffer.alloc(0);
let ivAt = 0;

function nextIv(): Buffer {
  if (ivAt + IV_SIZE > ivPool.length) {
    ivPool = randomBytes(IV_POOL_SIZE);
    ivAt = 0;
  }
  const iv = Buffer.from(ivPool.subarray(ivAt, ivAt + IV_SIZE));
  ivPool.fill(0, ivAt, ivAt + IV_SIZE);
  ivAt += IV_SIZE;
  return iv;
}

/**
 * Encrypts and authenticates. The result owns its whole ArrayBuffer (never a slice of Node's
 * shared pool), so it may be transferred to another thread.
 */
export function seal(key: MasterKey, plaintext: Uint8Array): Buffer {
  assertReady();
  const st = stateOf(key);
  const out = Buffer.allocUnsafeSlow(plaintext.length + CRYPTO_OVERHEAD);
  const iv = nextIv();
  iv.copy(out, 0);
  const ctr = createCipheriv('aes-256-ctr', st.encrypt, iv);
  // CTR is a stream cipher: update() returns exactly plaintext.length bytes, final() nothing.
  const ct = ctr.update(plaintext);
  ct.copy(out, IV_SIZE);
  const mac = poly1305(ct, poly1305Key(st, iv));
  out.set(mac, IV_SIZE + ct.length);
  release(ct);
  return out;
}

export function open(key: MasterKey, sealed: Uint8Array): Buffer {
  assertReady();
  if (sealed.length < CRYPTO_OVERHEAD) {
    throw new IntegrityError(`encrypted data is too short (${sealed.length} bytes, at least ${CRYPTO_OVERHEAD} expected)`, {
      hint: 'the file is truncated or damaged; run a repository check',
      data: { length: sealed.length },
    });
  }
  const iv = sealed.subarray(0, IV_SIZE);
  const ct = sealed.subarray(IV_SIZE, sealed.length - MAC_SIZE);
  const mac = sealed.subarray(sealed.length - MAC_SIZE);
  const st = stateOf(key);
  if (isZero(iv) || !timingSafeEqual(mac, poly1305(ct, poly1305Key(st, iv)))) {
    throw new IntegrityError('ciphertext verification failed (MAC mismatch)', {
      hint: 'the data is damaged or was encrypted with another key; run a repository check',
      data: { length: sealed.length },
    });
  }
  const ctr = createDecipheriv('aes-256-ctr', st.encrypt, iv);
  return ctr.update(ct);
}

/** restic never writes an all-zero IV and refuses to open one; so do we. */
function isZero(b: Uint8Array): boolean {
  let acc = 0;
  for (const x of b) acc |= x;
  return acc === 0;
}

/** restic's JSON shape of a master key, as stored (encrypted) inside key files. */
export function masterKeyToJSON(key: MasterKey): { mac: { k: string; r: string }; encrypt: string } {
  return {
    mac: { k: key.mac.k.toString('base64'), r: key.mac.r.toString('base64') },
    encrypt: key.encrypt.toString('base64'),
  };
}

export function masterKeyFromJSON(j: unknown): MasterKey {
  const bad = (what: string): IntegrityError =>
    new IntegrityError(`invalid master key: ${what}`, {
      hint: 'the key file decrypted but holds no valid key; use another key file or password',
    });
  if (typeof j !== 'object' || j === null) throw bad('not a JSON object');
  const { mac, encrypt } = j as { mac?: unknown; encrypt?: unknown };
  if (typeof mac !== 'object' || mac === null) throw bad('missing "mac"');
  const { k, r } = mac as { k?: unknown; r?: unknown };
  const field = (v: unknown, name: string, size: number): Buffer => {
    if (typeof v !== 'string') throw bad(`missing "${name}"`);
    const b = Buffer.from(v, 'base64');
    if (b.length !== size) throw bad(`"${name}" is ${b.length} bytes, ${size} expected`);
    // Like restic, an all-zero key means an uninitialised one, never a real key.
    if (isZero(b)) throw bad(`"${name}" is all zero`);
    return b;
  };
  return {
    encrypt: field(encrypt, 'encrypt', ENCRYPT_KEY_SIZE),
    mac: { k: field(k, 'mac.k', MAC_K_SIZE), r: field(r, 'mac.r', MAC_R_SIZE) },
  };
}
