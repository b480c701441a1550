/**
 * Every command's --help ends with an "Examples:" section (examples.ts), and every example
 * runs a command that exists with options it has: an example that fails is worse than none.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import type { Command } from 'commander';
import { buildProgram, main } from './main.ts';
import { EXAMPLES } from './examples.ts';
import type { CliContext } from './context.ts';

async function help(args: string[]): Promise<string> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (b: Buffer) => chunks.push(b));
  const code = await main([...args, '--help'], { env: {}, stdout: out, stderr: out });
  assert.equal(code, 0, `lifeboat ${args.join(' ')} --help`);
  return Buffer.concat(chunks).toString('utf8');
}

/** Every command path of the program: ['backup'], ['config', 'check'], … */
function commandPaths(command: Command, prefix: string[] = []): string[][] {
  return command.commands.flatMap((c) => [[...prefix, c.name()], ...commandPaths(c, [...prefix, c.name()])]);
}

const ctx = { out: undefined, env: {}, signal: new AbortController().signal, globals: () => ({}), setExitCode() {}, commandName: () => undefined } as unknown as CliContext;

test('the help of the program and of every command and subcommand has examples', async () => {
  const program = await buildProgram(ctx);
  const paths = commandPaths(program);
  assert.ok(paths.length >= 20, `found ${paths.length} commands`);
  for (const p of [[], ...paths]) {
    const text = await help(p);
    const examples = text.split('\nExamples:\n')[1];
    assert.ok(examples !== undefined, `lifeboat ${p.join(' ')} --help has an Examples section`);
    assert.match(examples, /^ {2}\$ /m, `lifeboat ${p.join(' ')} --help shows at least one example`);
  }
});

test('each example names an existing command and only options it (or the program) knows', async () => {
  const program = await buildProgram(ctx);
  const known = new Set(commandPaths(program).map((p) => p.join(' ')));
  const globalFlags = new Set(program.options.flatMap((o) => [o.short, o.long]).filter(Boolean));
  for (const [key, lines] of Object.entries(EXAMPLES)) {
    if (key !== '' && !known.has(key)) continue; // a command of another build (daemon)
    for (const line of lines) {
      // Each `lifeboat …` invocation of the line, comments and pipes cut off.
      for (const call of line.replace(/#.*$/, '').split(/&&|\|/).map((s) => s.trim()).filter((s) => s.startsWith('lifeboat '))) {
        const words = call.split(/\s+/).slice(1);
        const path: string[] = [];
        let cmd: Command = program;
        const flags: string[] = [];
        for (let i = 0; i < words.length; i++) {
          const w = words[i]!;
          if (w.startsWith('-')) {
            flags.push(w.split('=')[0]!);
            if (['-r', '-c', '-p', '--retry-lock'].includes(w)) i++;
            continue;
          }
          const sub = cmd.commands.find((c) => c.name() === w);
          if (sub !== undefined && flags.every((f) => globalFlags.has(f))) {
            cmd = sub;
            path.push(w);
          } else if (cmd === program) {
            assert.fail(`"${call}": no command "${w}"`);
          }
        }
        const own = new Set(cmd.options.flatMap((o) => [o.short, o.long]).filter(Boolean));
        for (const f of flags) assert.ok(globalFlags.has(f) || own.has(f), `"${call}": lifeboat ${path.join(' ')} has no option ${f}`);
      }
    }
  }
});
