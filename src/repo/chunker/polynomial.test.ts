import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LifeboatError } from '../../core/errors.ts';
import { isIrreducible, parsePolynomial, polynomialDegree, polynomialMod, randomPolynomial } from './polynomial.ts';

const isConfigError = (err: unknown): boolean => err instanceof LifeboatError && err.code === 'config';

/** Irreducibility by trial division over every polynomial of degree 1..deg/2. */
function irreducibleByTrialDivision(f: bigint): boolean {
  const d = polynomialDegree(f);
  if (d < 1) return false;
  for (let g = 2n; polynomialDegree(g) <= d / 2; g++) {
    if (polynomialMod(f, g) === 0n) return false;
  }
  return true;
}

test('Ben-Or test agrees with trial division for every polynomial up to degree 11', () => {
  for (let f = 1n; f < 1n << 12n; f++) {
    assert.equal(isIrreducible(f), irreducibleByTrialDivision(f), `polynomial ${f.toString(2)}`);
  }
});

test('parsePolynomial accepts irreducible degree-53 polynomials, in either case', () => {
  // Polynomials restic's own tests list as irreducible.
  assert.equal(parsePolynomial('3da3358b4dc173'), 0x3da3358b4dc173n);
  assert.equal(parsePolynomial('3DA3358B4DC173'), 0x3da3358b4dc173n);
  assert.equal(parsePolynomial('2482734cacca49'), 0x2482734cacca49n);
});

test('parsePolynomial rejects reducible polynomials of degree 53', () => {
  // Listed as reducible in restic's tests, plus x^53 + x^2 + x + 1: an even number of terms
  // means x = 1 is a root, so x + 1 divides it.
  for (const hex of ['38f1e565e288df', '30a8295b9d5c91', '312daf4b284899', '3143d0464b3299', '20000000000007']) {
    assert.equal(polynomialDegree(BigInt('0x' + hex)), 53);
    assert.throws(() => parsePolynomial(hex), isConfigError, hex);
  }
  // A multiple of x (no constant term) is reducible whatever its other bits.
  assert.throws(() => parsePolynomial('3da3358b4dc172'), isConfigError);
});

test('parsePolynomial rejects wrong degrees and malformed text', () => {
  const deg52 = (0x3da3358b4dc173n >> 1n) | 1n;
  const deg54 = 0x3da3358b4dc173n | (1n << 54n);
  for (const hex of [deg52.toString(16), deg54.toString(16), '1', 'b', '0', '', '0x3da3358b4dc173', ' 3da3358b4dc173',
    '3da3358b4dc17g', '13da3358b4dc1730000']) {
    assert.throws(() => parsePolynomial(hex), isConfigError, JSON.stringify(hex));
  }
});

test('randomPolynomial gives distinct valid polynomials in restic notation', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 12; i++) {
    const hex = randomPolynomial();
    assert.match(hex, /^[0-9a-f]{14}$/);
    const f = parsePolynomial(hex);
    assert.equal(polynomialDegree(f), 53);
    assert.equal(f & 1n, 1n);
    seen.add(hex);
  }
  assert.equal(seen.size, 12);
});
