import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { localRunner } from './local-runner.ts';

/** Gone, or a zombie waiting for init to reap it: either way no longer running. */
function isRunning(pid: number): boolean {
  return !/^\d+ \(.*\) Z /.test(procStat(pid) ?? '0 (gone) Z ');
}

function procStat(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * A signal sent to a group is delivered to each member on its own: the shell can be reaped
 * before the kernel has ended its background child, so wait (bounded) for the child to go.
 */
async function endsSoon(pid: number): Promise<boolean> {
  for (let i = 0; i < 300 && isRunning(pid); i++) await new Promise((r) => setTimeout(r, 10));
  return !isRunning(pid);
}

async function firstLine(stream: AsyncIterable<Buffer | string>): Promise<string> {
  let text = '';
  for await (const chunk of stream) {
    text += chunk.toString();
    if (text.includes('\n')) break;
  }
  return text.split('\n')[0] as string;
}

test('an abort ends the whole process group of a command, not only its shell', async () => {
  const ac = new AbortController();
  const run = localRunner.start({ command: '/bin/sh', args: ['-c', 'sleep 100 & echo $!; wait'], signal: ac.signal });
  run.stdin.end();
  const grandchild = Number(await firstLine(run.stdout));
  assert.ok(grandchild > 0 && isRunning(grandchild));
  run.stdout.resume();
  ac.abort();
  const r = await run.done;
  assert.equal(r.signal, 'SIGTERM');
  assert.equal(await endsSoon(grandchild), true, 'the background sleep survived the abort');
});

test('kill() reaches the grandchildren too', async () => {
  const run = localRunner.start({ command: '/bin/sh', args: ['-c', 'sleep 100 & echo $!; wait'] });
  run.stdin.end();
  const grandchild = Number(await firstLine(run.stdout));
  run.stdout.resume();
  run.kill('SIGKILL');
  const r = await run.done;
  assert.equal(r.signal, 'SIGKILL');
  assert.equal(await endsSoon(grandchild), true, 'the background sleep survived the kill');
});

test('a command that finished normally reports its status and stderr', async () => {
  const run = localRunner.start({ command: '/bin/sh', args: ['-c', 'echo oops >&2; exit 3'] });
  run.stdin.end();
  run.stdout.resume();
  const r = await run.done;
  assert.deepEqual([r.code, r.signal, r.stderr], [3, null, 'oops\n']);
});

test('commands still running when lifeboat exits (a second Ctrl-C) are ended, group and all', async () => {
  const script = `
    import { localRunner } from ${JSON.stringify(new URL('./local-runner.ts', import.meta.url).href)};
    const run = localRunner.start({ command: '/bin/sh', args: ['-c', 'sleep 100 & echo $!; wait'] });
    run.stdin.end();
    run.stdout.once('data', (b) => { process.stdout.write(b); process.exit(130); });
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const grandchild = Number(await firstLine(child.stdout));
  const [code] = (await once(child, 'close')) as [number];
  assert.equal(code, 130);
  assert.ok(grandchild > 0);
  // The group got SIGTERM from the exit handler; the sleep may take a moment to be reaped.
  assert.equal(await endsSoon(grandchild), true, 'a command outlived lifeboat');
});
