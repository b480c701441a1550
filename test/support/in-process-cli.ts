/**
 * Runs the CLI's `main` in this process with captured output: for tests of messages and exit
 * codes that need no child process (and so none of its start-up time).
 */
import { PassThrough } from 'node:stream';
import { main } from '../../src/cli/main.ts';

export interface InProcessResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function runCli(args: string[], env: NodeJS.ProcessEnv, signal?: AbortSignal): Promise<InProcessResult> {
  const out = new PassThrough();
  const err = new PassThrough();
  const o: Buffer[] = [];
  const e: Buffer[] = [];
  // Copied at once: dump hands out buffers whose memory is reused (transferred) afterwards.
  out.on('data', (b: Buffer) => o.push(Buffer.from(b)));
  err.on('data', (b: Buffer) => e.push(b));
  const code = await main(args, { env, stdout: out, stderr: err, signal });
  return { code, stdout: Buffer.concat(o).toString('utf8'), stderr: Buffer.concat(e).toString('utf8') };
}
