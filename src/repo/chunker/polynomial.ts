/**
 * Chunker polynomials: polynomials over GF(2), held in a bigint whose bit i is the coefficient
 * of x^i. A restic-format repository picks one random irreducible polynomial of degree 53 at
 * init time and stores it in its config as `chunker_polynomial` (lowercase hex, no 0x). Every
 * backup into that repository must chunk with it, or identical data would yield other blobs.
 *
 * This file only does the slow, exact arithmetic (bigint); the chunker turns a polynomial into
 * lookup tables once and never touches bigint while hashing.
 */
import { randomBytes } from 'node:crypto';
import { ConfigError } from '../../core/errors.ts';

/** The only degree lifeboat accepts: 53 is the largest prime below 64 - 8, as restic chose. */
export const POLYNOMIAL_DEGREE = 53;

/** Degree of x, -1 for the zero polynomial. */
export function polynomialDegree(x: bigint): number {
  return x === 0n ? -1 : x.toString(2).length - 1;
}

/** Remainder of x divided by m (m != 0). */
export function polynomialMod(x: bigint, m: bigint): bigint {
  const dm = polynomialDegree(m);
  if (dm < 0) throw new RangeError('polynomial division by zero');
  let dx = polynomialDegree(x);
  while (dx >= dm) {
    x ^= m << BigInt(dx - dm);
    dx = polynomialDegree(x);
  }
  return x;
}

/** a * b mod m, by shift-and-add with a reduction after every shift. */
function mulMod(a: bigint, b: bigint, m: bigint): bigint {
  const top = 1n << BigInt(polynomialDegree(m));
  a = polynomialMod(a, m);
  let res = 0n;
  for (let i = polynomialDegree(b); i >= 0; i--) {
    res <<= 1n;
    if (res & top) res ^= m;
    if ((b >> BigInt(i)) & 1n) res ^= a;
  }
  return res;
}

function gcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, polynomialMod(a, b)];
  return a;
}

/**
 * Ben-Or's test: f of degree d is irreducible iff gcd(f, x^(2^i) - x mod f) = 1 for every
 * i in 1..d/2. The powers x^(2^i) are built by repeated squaring, one square per step.
 */
export function isIrreducible(f: bigint): boolean {
  const d = polynomialDegree(f);
  if (d < 1) return false;
  let r = 2n; // the polynomial x
  for (let i = 1; i <= Math.floor(d / 2); i++) {
    r = mulMod(r, r, f);
    if (gcd(f, polynomialMod(r ^ 2n, f)) !== 1n) return false;
  }
  return true;
}

/**
 * A fresh random irreducible polynomial of degree 53, drawn the way restic draws it: 8 random
 * bytes read little-endian, bits above 53 cleared, bit 53 and bit 0 set, retried until
 * irreducible (about one draw in 26 succeeds).
 */
export function randomPolynomial(): string {
  const mask = (1n << 54n) - 1n;
  for (let tries = 0; tries < 1_000_000; tries++) {
    let f = randomBytes(8).readBigUInt64LE(0) & mask;
    f |= (1n << 53n) | 1n;
    if (isIrreducible(f)) return f.toString(16);
  }
  throw new ConfigError('could not find a random irreducible chunker polynomial', {
    hint: 'the system random source looks broken; check it and run init again',
  });
}

/** Parses a config's `chunker_polynomial`; it must be irreducible and of degree 53. */
export function parsePolynomial(hex: string): bigint {
  const hint = 'the repository config is damaged or was not written by restic or lifeboat';
  if (typeof hex !== 'string' || !/^[0-9a-fA-F]{1,16}$/.test(hex)) {
    throw new ConfigError('chunker polynomial in the repository config is not a hex number', { hint });
  }
  const f = BigInt('0x' + hex);
  const degree = polynomialDegree(f);
  if (degree !== POLYNOMIAL_DEGREE) {
    throw new ConfigError(`chunker polynomial in the repository config has degree ${degree}, expected ${POLYNOMIAL_DEGREE}`, {
      hint,
      data: { degree },
    });
  }
  if (!isIrreducible(f)) {
    throw new ConfigError('chunker polynomial in the repository config is not irreducible', { hint });
  }
  return f;
}
