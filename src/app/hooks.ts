/**
 * Hooks: shell commands lifeboat.yml runs around a source's backup or restore
 * (`docker compose stop app`). Each runs with /bin/sh -c; a non-zero exit fails the source.
 */
import { SourceError } from '../core/errors.ts';
import { localRunner } from '../transport/local-runner.ts';

/** Runs hook commands one by one in `cwd` (lifeboat.yml's directory, so relative paths work). */
export async function runHooks(commands: readonly string[], what: string, signal: AbortSignal, log?: (msg: string) => void, cwd?: string): Promise<void> {
  for (const cmd of commands) {
    log?.(`${what}: ${cmd}`);
    const run = localRunner.start({ command: '/bin/sh', args: ['-c', cmd], signal, cwd });
    run.stdin.end();
    run.stdout.resume();
    const r = await run.done;
    if (r.code !== 0) {
      const tail = r.stderr.trim().split('\n').slice(-3).join(' | ');
      throw new SourceError(`${what} "${cmd}" failed (${r.signal ? `killed by ${r.signal}` : `exit status ${r.code}`})${tail ? `: ${tail}` : ''}`, {
        hint: 'fix the hook command in lifeboat.yml; the source was not backed up or restored',
      });
    }
  }
}
