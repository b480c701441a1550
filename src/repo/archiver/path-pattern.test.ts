// restic's pattern semantics (internal/filter/filter_test.go): parts match consecutive
// components anywhere unless anchored by "/", "**" spans components, a match covers what is
// below it, and a directory is entered while an anchored include may match below it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { childMayMatch, compilePatterns, parsePathPattern, pathComponents } from './path-pattern.ts';

test('patterns match as restic\'s filter.Match', () => {
  const cases: Array<[string, string, boolean]> = [
    ['*.go', '/foo/bar/test.go', true],
    ['*.c', '/foo/bar/test.go', false],
    ['sub/*.log', '/srv/src/sub/c.log', true],
    ['sub/*.log', '/srv/src/sub/deep/c.log', false],
    ['src/sub', '/srv/src/sub/deep/d.txt', true],
    ['/srv/src', '/srv/src/a', true],
    ['/src', '/srv/src/a', false],
    ['foo/**/bar', '/x/foo/a/b/bar/baz', true],
    ['foo/**/bar', '/x/foo/bar', true],
    ['f.[lx]og', '/a/f.log', true],
    ['f.[^lx]og', '/a/f.log', false],
    ['a\\*b', '/x/a*b', true],
    ['a\\*b', '/x/aXb', false],
    ['*', '/anything', true],
  ];
  for (const [pattern, p, want] of cases) assert.equal(compilePatterns([pattern])?.(p), want, `${pattern} vs ${p}`);
  assert.equal(compilePatterns([' ', '']), undefined);
});

test('an anchored include lets the walk into the directories on its way only', () => {
  const inc = parsePathPattern('/src/other/x');
  assert.equal(childMayMatch(inc, pathComponents('/src')), true);
  assert.equal(childMayMatch(inc, pathComponents('/src/other')), true);
  assert.equal(childMayMatch(inc, pathComponents('/src/sub')), false);
  assert.equal(childMayMatch(parsePathPattern('x/y'), pathComponents('/anywhere')), true);
});
