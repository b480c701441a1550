/**
 * `lifeboat notify test [--event failure]`: sends a test alert to every channel of
 * `notifications:` (whatever events each is set for) and reports each channel's result, so a
 * webhook URL, a token or an SMTP relay can be checked before the first real failure.
 */
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { LifeboatError, UsageError } from '../../core/errors.ts';
import { NOTIFY_EVENTS } from '../../config/daemon-schema.ts';
import type { NotifyEvent } from '../../config/daemon-schema.ts';
import { withStack } from '../stack-access.ts';

export function registerNotify(program: Command, ctx: CliContext): void {
  const notifyCmd = program.command('notify').description('notifications of lifeboat.yml');
  notifyCmd
    .command('test')
    .description('send a test alert to every notification channel and show what each answered')
    .option('--event <event>', `event to send (${NOTIFY_EVENTS.join(', ')})`, 'failure')
    .action(async (flags: { event: string }) => {
      if (!(NOTIFY_EVENTS as readonly string[]).includes(flags.event)) throw new UsageError(`--event ${flags.event}: expected one of ${NOTIFY_EVENTS.join(', ')}`);
      await withStack(ctx, async (stack) => {
        const { createChannels, makeAlert, notify } = await import('../../daemon/notify/notifier.ts');
        const configs = stack.loaded.config.notifications ?? [];
        if (configs.length === 0) throw new UsageError(`${stack.loaded.file} has no notifications`, { hint: 'add notifications: [{ type: webhook, url: … }] (docs/daemon.md)' });
        const channels = createChannels(configs, { secrets: stack.secrets });
        const alert = makeAlert({ event: flags.event as NotifyEvent, subject: 'test', title: 'test notification from lifeboat', message: 'If you can read this, lifeboat can reach this channel.' });
        const results = await notify(channels, alert, { force: true });
        ctx.out.result({ message_type: 'notify_test', results });
        ctx.out.table(['Channel', 'Type', 'Result'], results.map((r, i) => [r.channel, channels[i]?.type ?? '', r.ok ? 'sent' : (r.error ?? 'failed')]));
        const failed = results.filter((r) => !r.ok);
        if (failed.length > 0) throw new LifeboatError('notify_failed', `${failed.length} of ${results.length} notification channel(s) failed: ${failed.map((f) => f.channel).join(', ')}`, { hint: 'see each channel\'s error above' });
      });
    });
}
