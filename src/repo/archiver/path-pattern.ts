/**
 * restic's path patterns (internal/filter/filter.go), for `backup --exclude` and `restore
 * --include/--exclude`: a pattern is split at "/" and its parts match consecutive components
 * of a path, each with Go's filepath.Match (`*`, `?`, `[a-z]`, `[^a-z]`, `\` escapes); `**`
 * matches any number of components. A pattern that starts with "/" is anchored at the root;
 * one that does not may match anywhere in the path. A pattern also matches everything below
 * what it matches (`foo` matches /x/foo/bar): the parts need not reach the end of the path.
 */

export interface PathPattern {
  readonly original: string;
  /** Each part is a component matcher, or "**". */
  readonly parts: ReadonlyArray<RegExp | '**'>;
  readonly anchored: boolean;
}

/** Go's filepath.Match for one component, as a RegExp. */
function componentRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '\\' && i + 1 < glob.length) re += escape(glob[++i] as string);
    else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end < 0) {
        re += '\\[';
        continue;
      }
      let body = glob.slice(i + 1, end);
      const negated = body.startsWith('^');
      if (negated) body = body.slice(1);
      re += `[${negated ? '^' : ''}${body.replace(/[\]\\]/g, (m) => `\\${m}`)}]`;
      i = end;
    } else re += escape(c);
  }
  return new RegExp(`^${re}$`, 's');
}

const escape = (c: string): string => c.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');

/** Parses one pattern as restic does (cleaned like Go's filepath.Clean). */
export function parsePathPattern(pattern: string): PathPattern {
  const anchored = pattern.startsWith('/');
  const parts = pattern.split('/').filter((p) => p !== '' && p !== '.');
  return { original: pattern, anchored, parts: parts.map((p) => (p === '**' ? '**' : componentRegExp(p))) };
}

/** The components of an absolute (or snapshot) path: /a/b → [a, b]. */
export function pathComponents(p: string): string[] {
  return p.split('/').filter((c) => c !== '' && c !== '.');
}

/** Whether `parts` match `comps` from `start`, the last part possibly before the end. */
function matchFrom(parts: PathPattern['parts'], pi: number, comps: readonly string[], ci: number): boolean {
  if (pi === parts.length) return true;
  const part = parts[pi] as RegExp | '**';
  if (part === '**') {
    for (let k = ci; k <= comps.length; k++) if (matchFrom(parts, pi + 1, comps, k)) return true;
    return false;
  }
  return ci < comps.length && part.test(comps[ci] as string) && matchFrom(parts, pi + 1, comps, ci + 1);
}

/** Whether the pattern matches the path or one of its parents. */
export function matchesPath(pattern: PathPattern, comps: readonly string[]): boolean {
  if (pattern.parts.length === 0) return comps.length === 0;
  if (pattern.anchored) return matchFrom(pattern.parts, 0, comps, 0);
  for (let start = 0; start < comps.length; start++) if (matchFrom(pattern.parts, 0, comps, start)) return true;
  return false;
}

/**
 * Whether something below the directory `comps` may match the pattern (restic's childMatch):
 * `restore --include /a/b/c` must walk into /a and /a/b to get there.
 */
export function childMayMatch(pattern: PathPattern, comps: readonly string[]): boolean {
  if (!pattern.anchored || pattern.parts.includes('**')) return true;
  const n = Math.min(comps.length, pattern.parts.length);
  for (let i = 0; i < n; i++) if (!(pattern.parts[i] as RegExp).test(comps[i] as string)) return false;
  return true;
}

/** A predicate over absolute paths that is true when any of `patterns` matches. */
export function compilePatterns(patterns: readonly string[]): ((absPath: string) => boolean) | undefined {
  const parsed = patterns.map((p) => p.trim()).filter(Boolean).map(parsePathPattern);
  if (parsed.length === 0) return undefined;
  return (absPath) => {
    const comps = pathComponents(absPath);
    return parsed.some((p) => matchesPath(p, comps));
  };
}
