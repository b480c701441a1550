// Cases from restic's internal/filter/filter_test.go semantics: parts match a run of
// components anywhere, "/" anchors at the root, "**" spans components.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { childMayMatch, matchPattern, parsePattern } from './restic-pattern.ts';

const cases: Array<[pattern: string, path: string, match: boolean]> = [
  ['*.go', '/foo/bar/test.go', true],
  ['*.c', '/foo/bar/test.go', false],
  ['foo', '/foo/bar/test.go', true],
  ['bar', '/foo/bar/test.go', true],
  ['foo/bar', '/home/foo/bar/test.go', true],
  ['foo/bar', '/home/foo/baz/bar', false],
  ['/foo', '/foo/bar', true],
  ['/foo', '/home/foo', false],
  ['/home/*/bar', '/home/user/bar/x', true],
  ['/home/*/bar', '/home/user/baz/bar', false],
  ['**/test.go', '/foo/bar/test.go', true],
  ['foo/**/test.go', '/foo/a/b/c/test.go', true],
  ['foo/**/test.go', '/foo/test.go', true],
  ['foo/**/test.go', '/bar/a/test.go', false],
  ['te?t.go', '/x/test.go', true],
  ['t[a-f]st.go', '/x/test.go', true],
  ['t[^e]st.go', '/x/test.go', false],
  ['a\\*b', '/x/a*b', true],
  ['a\\*b', '/x/aXb', false],
  ['*', '/', false],
  ['', '/foo', false],
];

test('patterns match paths as restic\'s filter.Match does', () => {
  for (const [p, path, want] of cases) assert.equal(matchPattern(parsePattern(p), path), want, `${p} vs ${path}`);
});

test('an anchored pattern rules out directories it cannot be below', () => {
  assert.equal(childMayMatch(parsePattern('/home/user/*.txt'), '/home'), true);
  assert.equal(childMayMatch(parsePattern('/home/user/*.txt'), '/srv'), false);
  assert.equal(childMayMatch(parsePattern('*.txt'), '/srv'), true);
});

test('a malformed pattern is a usage error naming it', () => {
  assert.throws(() => parsePattern('[abc'), (e: Error & { code?: string }) => e.code === 'usage' && e.message.includes('[abc'));
});
