/**
 * Every `lifeboat <command>` that a message or hint in src/ tells the user to run names a
 * command that exists (and, for commands with subcommands, a subcommand that exists): a hint
 * that names a missing command sends the user nowhere at the worst moment.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { Command } from 'commander';
import { commandNames, loadCommands } from './index.ts';
import type { CliContext } from '../context.ts';

const SRC = fileURLToPath(new URL('../../', import.meta.url));

async function sourceFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...await sourceFiles(p));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

/** The text of every string literal and template of a file (comments are not strings). */
function stringsOf(file: string, text: string): string[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const out: string[] = [];
  const visit = (n: ts.Node): void => {
    if (ts.isStringLiteral(n) || ts.isNoSubstitutionTemplateLiteral(n)) out.push(n.text);
    // A substitution stands for one word, so the flags after it are still checked.
    else if (ts.isTemplateExpression(n)) out.push([n.head.text, ...n.templateSpans.map((s) => s.literal.text)].join('VALUE'));
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

interface CommandInfo {
  subcommands: Map<string, Set<string>>;
  options: Set<string>;
}

/** Top-level command → its options and subcommands (with theirs), from the registered program. */
async function commandTree(): Promise<{ commands: Map<string, CommandInfo>; globals: Set<string> }> {
  const program = new Command('lifeboat').option('--json').option('-r, --repo <url>').option('-c, --config <file>')
    .option('-p, --password-file <file>').option('--password-command <cmd>').option('-q, --quiet').option('--debug');
  const ctx = { env: {}, signal: new AbortController().signal } as unknown as CliContext;
  for (const register of await loadCommands()) register(program, ctx);
  const longs = (c: Command): Set<string> => new Set(c.options.map((o) => o.long).filter((l): l is string => l !== undefined));
  const commands = new Map(program.commands.map((c) => [c.name(), {
    subcommands: new Map(c.commands.map((s) => [s.name(), longs(s)])),
    options: longs(c),
  }]));
  return { commands, globals: longs(program) };
}

/**
 * A mention the user is told to run: quoted (`"lifeboat unlock"`, `` `lifeboat check` ``) or
 * after "run " (`run lifeboat check`); "lifeboat retries" in prose is not a command. Group 1:
 * the command line up to the closing quote or the end of the sentence.
 */
const MENTION = /(?:["'`]|\brun )(lifeboat [a-z][^"'`;,()]*)/g;

test('every "lifeboat <command>" a message or hint tells the user to run names a command and options that exist', async () => {
  const { commands, globals } = await commandTree();
  assert.deepEqual([...commands.keys()], [...commandNames]);
  const wrong: string[] = [];
  let seen = 0;
  for (const file of await sourceFiles(SRC)) {
    const text = await readFile(file, 'utf8');
    for (const s of stringsOf(file, text)) {
      for (const m of s.matchAll(MENTION)) {
        const line = (m[1] as string).trim();
        const [, word, ...rest] = line.split(/\s+/) as [string, string, ...string[]];
        const where = `${path.relative(SRC, file)}: "${line}"`;
        seen++;
        const info = commands.get(word);
        if (info === undefined) {
          wrong.push(`${where}: no command "${word}"`);
          continue;
        }
        let options = info.options;
        if (info.subcommands.size > 0) {
          const sub = rest[0] !== undefined ? info.subcommands.get(rest[0]) : undefined;
          if (sub === undefined) {
            wrong.push(`${where}: "${word}" has no subcommand "${rest[0] ?? ''}" (${[...info.subcommands.keys()].join(', ')})`);
            continue;
          }
          options = sub;
        }
        for (const flag of rest.filter((r) => r.startsWith('--')).map((r) => r.replace(/=.*$/, ''))) {
          if (!options.has(flag) && !globals.has(flag)) wrong.push(`${where}: "${word}" has no option ${flag}`);
        }
      }
    }
  }
  assert.ok(seen > 10, `only ${seen} mentions found: the scan is broken`);
  assert.deepEqual(wrong, []);
});
