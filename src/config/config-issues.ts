/**
 * Turns schema validation issues into messages a person can act on: the key path as written
 * in lifeboat.yml and one short sentence. Values are never echoed, except for names that are
 * known not to be secret (a source `type`, a source name in `depends_on`): a misplaced
 * password must not end up in a terminal or a log because it was written in the wrong place.
 */
import type { z } from 'zod';
import { isSecretRefSchema, objectKeys, schemaAt } from './schema.ts';
import { NOTIFICATION_TYPES } from './daemon-schema.ts';

export type KeyPath = ReadonlyArray<string | number>;

/** One thing wrong with the config, before it is given a file and line. */
export interface ConfigProblem {
  readonly path: KeyPath;
  readonly message: string;
}

/** `sources.redis.url`, `sources.files.paths[0]`, `sources."Bad Name"`. */
export function formatKeyPath(p: KeyPath): string {
  let out = '';
  for (const seg of p) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z0-9_-]+$/.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += (out === '' ? '' : '.') + JSON.stringify(seg);
  }
  return out;
}

/** Levenshtein distance with adjacent transpositions (so "shcedule" is one edit away). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** The closest candidate, if it is close enough to be a likely typo. */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDist = Infinity;
  for (const c of candidates) {
    const dist = editDistance(word.toLowerCase(), c.toLowerCase());
    if (dist < bestDist) [best, bestDist] = [c, dist];
  }
  const limit = Math.max(1, Math.min(3, Math.floor(word.length / 3)));
  return best !== undefined && bestDist <= limit ? best : undefined;
}

/** ` (did you mean "x"?)` or ` (known: a, b, c)` */
export function hintFor(word: string, known: readonly string[], label: string): string {
  const near = closest(word, known);
  if (near !== undefined) return ` (did you mean "${near}"?)`;
  return known.length > 0 ? ` (${label}: ${known.join(', ')})` : '';
}

const EXPECTED: Record<string, string> = {
  object: 'a mapping (key: value)',
  array: 'a list',
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  never: 'nothing here',
};

export function kindOf(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'an empty value';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'number') return Number.isInteger(v) ? 'an integer' : 'a number';
  if (typeof v === 'boolean') return `${v}`;
  return `a ${typeof v}`;
}

function valueAt(data: unknown, p: KeyPath): unknown {
  let v = data;
  for (const seg of p) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[seg] : undefined;
  return v;
}

const REPOSITORY_EXAMPLE = 'repository: { url: local:/var/backups/lifeboat, password: { env: LIFEBOAT_PASSWORD } }';
const SECRET_FORMS = '{ env: NAME }, { file: PATH } or { command: CMD }';

export interface IssueContext {
  readonly schema: z.ZodType;
  /** The data as parsed from YAML, before validation. */
  readonly data: unknown;
  /** The known source types, for the message about an unknown `type`. */
  readonly typeNames: readonly string[];
}

/** One validation issue → one or more problems (an unknown-keys issue names each key). */
export function describeIssue(issue: z.core.$ZodIssue, ctx: IssueContext): ConfigProblem[] {
  const p: KeyPath = issue.path.map((s) => (typeof s === 'symbol' ? String(s) : s));
  const here = valueAt(ctx.data, p);
  const schemaHere = schemaAt(ctx.schema, ctx.data, p);

  // A plain value where a secret reference belongs: say how to write it, and not the value.
  if (schemaHere && isSecretRefSchema(schemaHere) && issue.code !== 'unrecognized_keys') {
    if (here === undefined) return [{ path: p, message: `missing; write the secret as ${SECRET_FORMS}` }];
    if (typeof here !== 'object' || here === null) {
      return [{ path: p, message: 'write the secret as { env: NAME } or { file: PATH }, not inline' }];
    }
    return [{ path: p, message: `write the secret as exactly one of ${SECRET_FORMS}` }];
  }

  switch (issue.code) {
    case 'unrecognized_keys': {
      const known = (schemaHere && objectKeys(schemaHere, here)) ?? [];
      return issue.keys.map((k) => ({ path: [...p, k], message: `unknown key "${k}"${hintFor(k, known, 'known keys')}` }));
    }
    case 'invalid_type': {
      if (here === undefined) {
        if (p.length === 1 && p[0] === 'repository') {
          return [{ path: p, message: `missing; say where backups are stored, e.g. ${REPOSITORY_EXAMPLE}` }];
        }
        return [{ path: p, message: 'missing (required)' }];
      }
      const expected = EXPECTED[issue.expected] ?? issue.expected;
      return [{ path: p, message: `expected ${expected}, got ${kindOf(here)}` }];
    }
    case 'invalid_union': {
      // A discriminated union (the sources) whose `type` is missing or not a known one.
      if ('discriminator' in issue && issue.discriminator === 'type') {
        // The same shape is used by notifications (daemon-schema.ts), with their own types.
        const isNotification = p[0] === 'notifications';
        const names = isNotification ? NOTIFICATION_TYPES : ctx.typeNames;
        const known = names.join(', ');
        const kind = isNotification ? 'notification' : 'source';
        if (here === undefined) return [{ path: p, message: `missing; say which kind of ${kind} this is: one of ${known}` }];
        if (typeof here !== 'string') return [{ path: p, message: `expected a string, one of ${known}; got ${kindOf(here)}` }];
        const near = closest(here, names);
        const suggestion = near !== undefined ? ` (did you mean "${near}"?)` : '';
        return [{ path: p, message: `unknown ${kind} type "${here}"${suggestion}; known types: ${known}` }];
      }
      return describeUnion(issue, p, here, ctx);
    }
    case 'invalid_key': {
      // Only the sources record has constrained keys.
      const inner = issue.issues[0]?.message ?? issue.message;
      return [{ path: p, message: `invalid source name: ${friendly(inner)}` }];
    }
    case 'invalid_value':
      return [{ path: p, message: `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}` }];
    case 'too_small':
    case 'too_big': {
      const bound = issue.code === 'too_small' ? issue.minimum : issue.maximum;
      const word = issue.code === 'too_small' ? 'at least' : 'at most';
      if (issue.origin === 'string' && issue.code === 'too_small' && Number(bound) === 1) return [{ path: p, message: 'must not be empty' }];
      if (issue.origin === 'array' || issue.origin === 'set') return [{ path: p, message: `must have ${word} ${bound} item${Number(bound) === 1 ? '' : 's'}` }];
      if (issue.origin === 'string') return [{ path: p, message: `must be ${word} ${bound} characters long` }];
      const inclusive = issue.inclusive !== false;
      const op = issue.code === 'too_small' ? (inclusive ? '>=' : '>') : (inclusive ? '<=' : '<');
      return [{ path: p, message: `must be ${op} ${bound}` }];
    }
    case 'invalid_format':
      return [{ path: p, message: friendly(issue.message) }];
    default:
      return [{ path: p, message: friendly(issue.message) }];
  }
}

/** What one branch of a union wanted, when it failed on the value itself. */
function expectation(issue: z.core.$ZodIssue): string | undefined {
  if (issue.path.length > 0) return undefined;
  if (issue.code === 'invalid_type') return EXPECTED[issue.expected] ?? issue.expected;
  if (issue.code === 'invalid_value') return issue.values.map((v) => JSON.stringify(v)).join(' or ');
  return undefined;
}

/**
 * A union none of whose branches matched: if one branch had the right shape and failed
 * inside, its issues are the useful ones; else list what each branch would have taken.
 */
function describeUnion(issue: z.core.$ZodIssueInvalidUnion, p: KeyPath, here: unknown, ctx: IssueContext): ConfigProblem[] {
  const inner = issue.errors.find((branch) => branch.length > 0 && branch.every((i) => i.path.length > 0));
  if (inner) return inner.flatMap((i) => describeIssue({ ...i, path: [...p, ...i.path] }, ctx));
  const wanted = issue.errors.map((branch) => (branch.length === 1 ? expectation(branch[0]) : undefined));
  if (wanted.length > 0 && wanted.every((w) => w !== undefined)) {
    return [{ path: p, message: `expected ${[...new Set(wanted)].join(' or ')}, got ${kindOf(here)}` }];
  }
  return [{ path: p, message: friendly(issue.message) }];
}

/**
 * A schema's own message: zod's generic ones ("Invalid string: must match …") read poorly,
 * a custom one written as a noun phrase ("a duration like 30s…") reads as what was expected.
 */
function friendly(message: string): string {
  if (/^an? /.test(message)) return `expected ${message}`;
  return message.replace(/^Invalid (input|string): /, '');
}
