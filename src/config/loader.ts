/**
 * Loading lifeboat.yml: find it, parse the YAML keeping node positions, validate it against
 * the composed schema, check what a schema cannot (depends_on names and cycles), then make it
 * ready to use: paths absolute, defaults merged into each source, sources in dependency order.
 *
 * Every problem becomes a line `FILE:LINE: key.path: message`; all problems of a file are
 * reported at once in one ConfigError (first line: how many), sorted by line. Secrets are
 * only references here; they are resolved when used (secrets.ts).
 */
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { ConfigError, errorMessage } from '../core/errors.ts';
import { sourceTypes } from '../sources/registry.ts';
import { closest, describeIssue, formatKeyPath } from './config-issues.ts';
import type { ConfigProblem, KeyPath } from './config-issues.ts';
import { dependencyOrder, findCycle } from './dependencies.ts';
import { homeDir, pathKeysOf, resolveRepositoryUrl, resolveSecretFiles, resolveSourcePaths, resolveStateDir } from './paths.ts';
import { INHERITED_KEYS, buildConfigSchema } from './schema.ts';
import type { LifeboatConfig, SourceConfig, SourceTypes } from './schema.ts';
import { lineOf } from './yaml-lines.ts';
import { checkValues } from './value-checks.ts';

export { dependencyOrder, findCycle } from './dependencies.ts';

export interface LoadedConfig {
  /** Absolute path of the file that was loaded. */
  readonly file: string;
  /** The validated config: paths absolute, defaults merged into every source. */
  readonly config: LifeboatConfig;
  /** The sources in dependency order (dependencies first, ties by name). */
  readonly sources: Array<{ name: string; config: SourceConfig }>;
  /** Absolute state directory (state_dir, $XDG_STATE_HOME/lifeboat or ~/.local/state/lifeboat). */
  readonly stateDir: string;
}

export interface LoadOptions {
  /** The source types to validate against (the registry by default). */
  readonly types?: SourceTypes;
  /** Environment for HOME and XDG_STATE_HOME (process.env by default). */
  readonly env?: NodeJS.ProcessEnv;
}

/** One problem placed in the file. */
export interface LocatedProblem {
  readonly file: string;
  readonly line: number;
  readonly key: string;
  readonly message: string;
}

/** How the file is named in messages: relative to the working directory when below it. */
function displayName(file: string): string {
  const rel = path.relative(process.cwd(), file);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : file;
}

function formatProblem(shown: string, p: LocatedProblem): string {
  return p.key === '' ? `${shown}:${p.line}: ${p.message}` : `${shown}:${p.line}: ${p.key}: ${p.message}`;
}

/** One ConfigError for all problems; its file/line/key are those of the first. */
function configError(file: string, problems: LocatedProblem[]): ConfigError {
  const sorted = [...problems].sort((a, b) => a.line - b.line);
  const shown = displayName(file);
  const lines = [...new Set(sorted.map((p) => formatProblem(shown, p)))];
  const message = lines.length === 1 ? lines[0] : [`${shown}: ${lines.length} problems`, ...lines].join('\n');
  const first = sorted[0];
  return new ConfigError(message, {
    file,
    line: first.line,
    key: first.key === '' ? undefined : first.key,
    hint: `fix ${shown} and check it with "lifeboat config check"`,
    data: { problems: sorted },
  });
}

/** Reads, validates and prepares lifeboat.yml. Throws a ConfigError naming file and line. */
export async function loadConfig(file: string, opts: LoadOptions = {}): Promise<LoadedConfig> {
  const types = opts.types ?? sourceTypes;
  const env = opts.env ?? process.env;
  const abs = path.resolve(file);
  const baseDir = path.dirname(abs);

  let text: string;
  try {
    text = await readFile(abs, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${abs}: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`, {
      file: abs,
      hint: 'check the path given by --config or LIFEBOAT_CONFIG',
      cause: err,
    });
  }

  const lines = new LineCounter();
  // `merge` lets a stack share settings with YAML anchors and `<<:` merge keys.
  const doc = parseDocument(text, { lineCounter: lines, merge: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    throw configError(abs, doc.errors.map((e) => ({
      file: abs,
      line: e.linePos?.[0].line ?? 1,
      key: '',
      // The parser's message ends with " at line L, column C:" and a code frame; the line is ours.
      message: `YAML syntax error: ${e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')}`,
    })));
  }
  let raw: unknown;
  try {
    raw = doc.toJS() ?? {};
  } catch (err) {
    // yaml refuses documents whose aliases expand without bound ("billion laughs").
    throw configError(abs, [{ file: abs, line: 1, key: '', message: `YAML error: ${errorMessage(err)}` }]);
  }
  const locate = (problem: ConfigProblem): LocatedProblem => ({
    file: abs,
    line: lineOf(doc, lines, problem.path),
    key: formatKeyPath(problem.path),
    message: problem.message,
  });
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw configError(abs, [locate({ path: [], message: 'the file must be a mapping of keys (repository:, sources:, …)' })]);
  }

  // `sources:` with every entry commented out is an empty section, not a type error.
  for (const section of ['sources', 'defaults', 'copies']) {
    if ((raw as Record<string, unknown>)[section] === null) delete (raw as Record<string, unknown>)[section];
  }

  // Source paths are made absolute before validation: an adapter may insist on absolute paths,
  // while the file may say `./data`, meaning next to lifeboat.yml.
  const rawSources = (raw as Record<string, unknown>).sources;
  if (rawSources !== null && typeof rawSources === 'object' && !Array.isArray(rawSources)) {
    for (const source of Object.values(rawSources)) {
      const type = source !== null && typeof source === 'object' ? (source as Record<string, unknown>).type : undefined;
      if (typeof type === 'string') resolveSourcePaths(source as SourceConfig, pathKeysOf(type, types), baseDir, env);
    }
  }

  const schema = buildConfigSchema(types);
  const result = schema.safeParse(raw);
  if (!result.success) {
    const ctx = { schema, data: raw, typeNames: [...types.keys()].sort() };
    throw configError(abs, result.error.issues.flatMap((i) => describeIssue(i, ctx)).map(locate));
  }
  const config = result.data as LifeboatConfig;

  // Checked before defaults are merged, so a problem points at the line it was written on.
  const problems = [...checkDependencies(config.sources), ...checkValues(config)];
  if (problems.length > 0) throw configError(abs, problems.map(locate));

  // Make it ready to use: paths, secret file references, inherited defaults.
  config.repository.url = resolveRepositoryUrl(config.repository.url, baseDir, env);
  for (const copy of config.copies ?? []) copy.repository.url = resolveRepositoryUrl(copy.repository.url, baseDir, env);
  resolveSecretFiles(schema, config, baseDir, env);
  for (const source of Object.values(config.sources)) {
    for (const key of INHERITED_KEYS) {
      const inherited = config.defaults?.[key];
      if (source[key] === undefined && inherited !== undefined) {
        (source as Record<string, unknown>)[key] = structuredClone(inherited);
      }
    }
  }
  const stateDir = resolveStateDir(config.state_dir, baseDir, env);
  if (config.state_dir !== undefined) config.state_dir = stateDir;

  const sources = dependencyOrder(config.sources).map((name) => ({ name, config: config.sources[name] }));
  return { file: abs, config, sources, stateDir };
}

/** depends_on entries that name no source, and a cycle. */
function checkDependencies(sources: Record<string, SourceConfig>): ConfigProblem[] {
  const names = Object.keys(sources).sort();
  const problems: ConfigProblem[] = [];
  for (const [name, s] of Object.entries(sources)) {
    (s.depends_on ?? []).forEach((dep, i) => {
      if (Object.hasOwn(sources, dep)) return;
      const near = closest(dep, names);
      const hint = near !== undefined ? ` (did you mean "${near}"?)` : names.length > 0 ? ` (sources: ${names.join(', ')})` : '';
      problems.push({ path: ['sources', name, 'depends_on', i], message: `unknown source "${dep}"${hint}` });
    });
  }
  const cycle = findCycle(sources);
  if (cycle) {
    // Point at the entry that closes the cycle from its first source.
    const index = (sources[cycle[0]].depends_on ?? []).indexOf(cycle[1]);
    const at: KeyPath = index >= 0 ? ['sources', cycle[0], 'depends_on', index] : ['sources', cycle[0], 'depends_on'];
    problems.push({ path: at, message: `dependency cycle: ${cycle.join(' -> ')}` });
  }
  return problems;
}

/**
 * Where lifeboat.yml is: --config, else $LIFEBOAT_CONFIG, else ./lifeboat.yml, else
 * $XDG_CONFIG_HOME/lifeboat/lifeboat.yml (~/.config/lifeboat/lifeboat.yml). An explicit file
 * that does not exist is an error, not a reason to look elsewhere. Returns an absolute path.
 */
export function findConfigFile(explicit?: string, env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): string {
  const isFile = (p: string): boolean => existsSync(p) && statSync(p).isFile();
  const given: Array<[string | undefined, string]> = [[explicit, '--config'], [env.LIFEBOAT_CONFIG, 'LIFEBOAT_CONFIG']];
  for (const [p, from] of given) {
    if (p === undefined || p === '') continue;
    const abs = path.resolve(cwd, p);
    if (!isFile(abs)) {
      throw new ConfigError(`config file ${abs} (from ${from}) does not exist`, { file: abs, hint: `check the path given by ${from}` });
    }
    return abs;
  }
  const xdg = env.XDG_CONFIG_HOME !== undefined && path.isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : path.join(homeDir(env), '.config');
  const candidates = [path.join(cwd, 'lifeboat.yml'), path.join(xdg, 'lifeboat', 'lifeboat.yml')];
  const found = candidates.find(isFile);
  if (found !== undefined) return found;
  throw new ConfigError('no lifeboat.yml found', {
    hint: `pass --config FILE, set LIFEBOAT_CONFIG, or create one of: ${candidates.join(', ')}`,
    data: { searched: candidates },
  });
}
