/**
 * Where the repository password comes from, in restic's order of precedence:
 * --password-file, --password-command, LIFEBOAT_PASSWORD_FILE, LIFEBOAT_PASSWORD_COMMAND,
 * LIFEBOAT_PASSWORD. Never from argv. The password is never logged or echoed.
 */
import { readFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { LifeboatError, UsageError, errorMessage } from '../core/errors.ts';

export interface PasswordSources {
  passwordFile?: string;
  passwordCommand?: string;
  env: NodeJS.ProcessEnv;
}

async function fromFile(file: string): Promise<string> {
  try {
    const text = await readFile(file, 'utf8');
    const pw = text.replace(/\r?\n$/, '');
    if (pw === '') throw new UsageError(`password file ${file} is empty`);
    return pw;
  } catch (err) {
    if (err instanceof LifeboatError) throw err;
    throw new UsageError(`cannot read password file ${file}: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`, { cause: err });
  }
}

async function fromCommand(cmd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', cmd], { stdio: ['ignore', 'pipe', 'inherit'] });
    const parts: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => parts.push(b));
    child.on('error', (err) => reject(new UsageError(`password command failed to start: ${err.message}`, { cause: err })));
    child.on('close', (code) => {
      if (code !== 0) return reject(new UsageError(`password command exited with status ${code}`, { hint: 'check the command given by --password-command or LIFEBOAT_PASSWORD_COMMAND' }));
      const pw = Buffer.concat(parts).toString('utf8').replace(/\r?\n$/, '');
      if (pw === '') return reject(new UsageError('password command printed nothing'));
      resolve(pw);
    });
  });
}

export async function resolvePassword(src: PasswordSources): Promise<string> {
  if (src.passwordFile) return fromFile(src.passwordFile);
  if (src.passwordCommand) return fromCommand(src.passwordCommand);
  if (src.env.LIFEBOAT_PASSWORD_FILE) return fromFile(src.env.LIFEBOAT_PASSWORD_FILE);
  if (src.env.LIFEBOAT_PASSWORD_COMMAND) return fromCommand(src.env.LIFEBOAT_PASSWORD_COMMAND);
  if (src.env.LIFEBOAT_PASSWORD !== undefined && src.env.LIFEBOAT_PASSWORD !== '') return src.env.LIFEBOAT_PASSWORD;
  throw new UsageError('no repository password given', {
    hint: 'use --password-file FILE, or set LIFEBOAT_PASSWORD_FILE or LIFEBOAT_PASSWORD',
  });
}
