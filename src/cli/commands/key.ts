/** `lifeboat key list|add|remove|passwd`: the passwords (key files) of a repository. */
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { UsageError } from '../../core/errors.ts';
import { withRepository } from '../repo-access.ts';
import { addKey, listKeys, removeKey } from '../../repo/key/key-file.ts';
import { resolvePassword } from '../../app/password.ts';

async function newPassword(ctx: CliContext, file?: string): Promise<string> {
  if (file) return resolvePassword({ passwordFile: file, env: {} });
  if (ctx.env.LIFEBOAT_NEW_PASSWORD_FILE) return resolvePassword({ passwordFile: ctx.env.LIFEBOAT_NEW_PASSWORD_FILE, env: {} });
  if (ctx.env.LIFEBOAT_NEW_PASSWORD) return ctx.env.LIFEBOAT_NEW_PASSWORD;
  throw new UsageError('no new password given', { hint: 'use --new-password-file FILE or set LIFEBOAT_NEW_PASSWORD_FILE' });
}

export function registerKey(program: Command, ctx: CliContext): void {
  const key = program.command('key').description('manage the repository\'s keys (passwords)');
  key
    .command('list')
    .description('list keys')
    .action(async () => {
      await withRepository(ctx, { lock: 'none', loadIndex: false }, async ({ repo }) => {
        const keys = await listKeys(repo.storage, { signal: ctx.signal });
        ctx.out.result(keys.map((k) => ({ ...k, current: k.id === repo.keyId })));
        ctx.out.table(['', 'ID', 'User', 'Host', 'Created'], keys.map((k) => [k.id === repo.keyId ? '*' : '', k.id.slice(0, 8), k.username, k.hostname, k.damaged ? `damaged: ${k.damaged}` : k.created]));
      });
    });
  key
    .command('add')
    .description('add a password')
    .option('--new-password-file <file>', 'file holding the new password')
    .action(async (flags: { newPasswordFile?: string }) => {
      const pw = await newPassword(ctx, flags.newPasswordFile);
      await withRepository(ctx, { lock: 'shared', loadIndex: false }, async ({ repo }) => {
        const id = await addKey(repo.storage, pw, repo.masterKey, { signal: ctx.signal });
        ctx.out.result({ message_type: 'key_added', id });
        ctx.out.line(`saved new key ${id.slice(0, 8)}`);
      });
    });
  key
    .command('remove')
    .description('remove a key (not the one in use)')
    .argument('<id>', 'key ID or prefix')
    .action(async (id: string) => {
      await withRepository(ctx, { lock: 'exclusive', loadIndex: false }, async ({ repo }) => {
        if (repo.keyId.startsWith(id)) throw new UsageError('refusing to remove the key in use', { hint: 'open the repository with another password to remove this one' });
        await removeKey(repo.storage, id, { signal: ctx.signal });
        ctx.out.result({ message_type: 'key_removed', id });
        ctx.out.line(`removed key ${id}`);
      });
    });
  key
    .command('passwd')
    .description('change the password in use (adds a new key, removes the old)')
    .option('--new-password-file <file>', 'file holding the new password')
    .action(async (flags: { newPasswordFile?: string }) => {
      const pw = await newPassword(ctx, flags.newPasswordFile);
      await withRepository(ctx, { lock: 'exclusive', loadIndex: false }, async ({ repo }) => {
        const id = await addKey(repo.storage, pw, repo.masterKey, { signal: ctx.signal });
        await removeKey(repo.storage, repo.keyId, { signal: ctx.signal });
        ctx.out.result({ message_type: 'password_changed', id });
        ctx.out.line(`saved new key ${id.slice(0, 8)}, removed ${repo.keyId.slice(0, 8)}`);
      });
    });
}
