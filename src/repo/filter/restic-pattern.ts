/**
 * restic's path patterns (internal/filter/filter.go), as `find` and `rewrite --exclude` use
 * them: a pattern is split at "/" and its parts match a run of consecutive path components
 * anywhere in the path, or from the root when the pattern starts with "/". "**" stands for
 * any number of components; within a part, `*`, `?`, `[…]` (negated with `^`) and `\`
 * escapes follow Go's filepath.Match, none of them matching "/".
 */
import { UsageError } from '../../core/errors.ts';

interface Part {
  readonly text: string;
  /** No wildcard: compared as a string. */
  readonly re?: RegExp;
}

export interface PathPattern {
  readonly original: string;
  readonly parts: readonly Part[];
}

/** Compiles a pattern; a malformed one is a usage error naming it. */
export function parsePattern(pattern: string): PathPattern {
  const clean = cleanPath(pattern);
  const anchored = clean.startsWith('/');
  const texts = clean.split('/').filter((p) => p !== '');
  const parts: Part[] = texts.map((t) => (/[*?[\\]/.test(t) && t !== '**' ? { text: t, re: componentRegExp(t, pattern) } : { text: t }));
  return { original: pattern, parts: anchored ? [{ text: '/' }, ...parts] : parts };
}

/** True when `path` (absolute, slash-separated) matches the pattern. */
export function matchPattern(p: PathPattern, path: string): boolean {
  if (p.parts.length === 0) return false;
  return matchParts(p.parts, splitPath(path));
}

/** True when any of the patterns matches. */
export function matchAny(patterns: readonly PathPattern[], path: string): boolean {
  return patterns.some((p) => matchPattern(p, path));
}

/**
 * True when something below the directory `path` could match (restic's ChildMatch): a walk
 * need not enter a directory for which this is false.
 */
export function childMayMatch(p: PathPattern, path: string): boolean {
  const strs = splitPath(path);
  if (p.parts[0]?.text !== '/') return true; // unanchored patterns may match at any depth
  for (let i = 0; i < Math.min(p.parts.length, strs.length); i++) {
    const part = p.parts[i] as Part;
    if (part.text === '**') return true;
    if (!partMatches(part, strs[i] as string)) return false;
  }
  return true;
}

function splitPath(path: string): string[] {
  const clean = cleanPath(path);
  const parts = clean.split('/').filter((s) => s !== '');
  return clean.startsWith('/') ? ['/', ...parts] : parts;
}

function cleanPath(p: string): string {
  const abs = p.startsWith('/');
  const out: string[] = [];
  for (const s of p.split('/')) {
    if (s === '' || s === '.') continue;
    if (s === '..' && out.length > 0 && out.at(-1) !== '..') out.pop();
    else out.push(s);
  }
  return (abs ? '/' : '') + out.join('/');
}

function partMatches(part: Part, s: string): boolean {
  return part.re ? part.re.test(s) : part.text === s;
}

function matchParts(parts: readonly Part[], strs: readonly string[]): boolean {
  const star = parts.findIndex((p) => p.text === '**');
  if (star >= 0) {
    // Expand "**" into 0, 1, 2, … single-component wildcards.
    const any: Part = { text: '*', re: /^.*$/s };
    for (let i = 0; i <= strs.length - parts.length + 1; i++) {
      const expanded = [...parts.slice(0, star), ...Array.from({ length: i }, () => any), ...parts.slice(star + 1)];
      if (matchParts(expanded, strs)) return true;
    }
    return false;
  }
  if (parts.length === 0) return strs.length === 0;
  if (parts.length > strs.length) return false;
  let minOffset = 0;
  let maxOffset = strs.length - parts.length;
  if (parts[0]?.text === '/') maxOffset = 0;
  else if (strs[0] === '/') minOffset = 1;
  outer: for (let offset = maxOffset; offset >= minOffset; offset--) {
    for (let i = parts.length - 1; i >= 0; i--) {
      if (!partMatches(parts[i] as Part, strs[offset + i] as string)) continue outer;
    }
    return true;
  }
  return false;
}

/** Go's filepath.Match syntax for one path component, as a RegExp. */
function componentRegExp(part: string, original: string): RegExp {
  let re = '^';
  for (let i = 0; i < part.length; i++) {
    const c = part[i] as string;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '\\') {
      const next = part[++i];
      if (next === undefined) throw badPattern(original);
      re += escapeRe(next);
    } else if (c === '[') {
      const end = part.indexOf(']', i + 2);
      if (end < 0) throw badPattern(original);
      let body = part.slice(i + 1, end);
      const negated = body.startsWith('^');
      if (negated) body = body.slice(1);
      re += `[${negated ? '^' : ''}${body.replace(/[\]\\^]/g, (m) => `\\${m}`)}]`;
      i = end;
    } else re += escapeRe(c);
  }
  return new RegExp(re + '$', 's');
}

function escapeRe(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

function badPattern(p: string): UsageError {
  return new UsageError(`pattern ${JSON.stringify(p)} is malformed`, { hint: 'check its [ ] brackets and trailing \\' });
}
