/**
 * The `daemon:` and `notifications:` sections of lifeboat.yml: what `lifeboat daemon` listens
 * on, the repository-wide jobs it schedules beside each source's and copy's `schedule`, what
 * the watchdog alerts on, and where alerts go. Secrets (the API token, webhook URLs that carry
 * a token, bot tokens, SMTP passwords) are references, as everywhere in lifeboat.yml.
 */
import { z } from 'zod';
import { durationSchema, secretRefSchema } from '../sources/source-kit.ts';

const scheduled = { schedule: z.string().min(1).describe('cron (optionally CRON_TZ=Zone …), a macro or @every <duration>') };

export const daemonSchema = z.strictObject({
  listen: z.string().regex(/^(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}$/, { error: 'host:port, e.g. 127.0.0.1:9876' }).optional()
    .describe('Address of the HTTP API and /metrics (default 127.0.0.1:9876); any other than loopback needs `token`'),
  token: secretRefSchema.optional().describe('Bearer token the API requires (always for POST; for everything on a non-loopback address)'),
  time_zone: z.string().min(1).optional().describe('IANA zone cron schedules run in (default: the host\'s)'),
  jitter: durationSchema.optional().describe('Largest deterministic delay added to each job\'s slots (spreads load; default none)'),
  concurrency: z.int().min(1).max(16).optional().describe('Jobs run at once (default 1)'),
  prune: z.strictObject({ ...scheduled }).optional().describe('Apply each source\'s retention, then prune (repository-exclusive)'),
  verify: z.strictObject({ ...scheduled, only: z.array(z.string()).optional() }).optional().describe('lifeboat verify on a schedule'),
  check: z.strictObject({ ...scheduled, read_data_subset: z.string().regex(/^(\d+(\.\d+)?%|\d+\/\d+)$/, { error: 'a share like 5% or n/t like 1/7' }).optional() }).optional()
    .describe('lifeboat check on a schedule, reading a subset of the data'),
  drill: z.strictObject({ ...scheduled, only: z.array(z.string()).optional() }).optional().describe('lifeboat drill on a schedule (measures RTO against rto)'),
  max_check_age: durationSchema.optional().describe('Alert when the last good check or verify is older (default 8d when check or verify is scheduled)'),
  stale_lock_after: durationSchema.optional().describe('Alert when a repository lock is older (default 6h)'),
  allow_restore: z.boolean().optional().describe('Allow restores from the API and the dashboard (POST /api/v1/restores; default false: a restore replaces live data)'),
}).describe('lifeboat daemon: the HTTP API, repository-wide schedules and the watchdog');

export const NOTIFY_EVENTS = ['failure', 'overdue', 'recovery', 'start', 'success', 'restore'] as const;
export type NotifyEvent = (typeof NOTIFY_EVENTS)[number];

export const NOTIFICATION_TYPES: readonly string[] = ['webhook', 'healthchecks', 'ntfy', 'slack', 'discord', 'telegram', 'email'];

const urlOrSecret = z.union([z.url(), secretRefSchema]);
const common = {
  name: z.string().min(1).optional().describe('Shown in logs and by `lifeboat notify test`'),
  on: z.array(z.enum(NOTIFY_EVENTS)).min(1).optional().describe('Events sent (default failure, overdue, recovery, restore)'),
  timeout: durationSchema.optional().describe('Per call (default 10s)'),
};

export const notificationSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('webhook'),
    ...common,
    url: urlOrSecret,
    method: z.enum(['POST', 'PUT', 'GET']).optional(),
    headers: z.record(z.string(), z.union([z.string(), secretRefSchema])).optional(),
    template: z.string().optional().describe('Body with {{field}} placeholders (JSON-escaped); default: the event as JSON'),
  }).describe('Any HTTP endpoint'),
  z.strictObject({ type: z.literal('healthchecks'), ...common, url: urlOrSecret.describe('The check\'s ping URL; /start and /fail are appended') })
    .describe('Healthchecks.io-style pings: start, success (the bare URL), fail'),
  z.strictObject({ type: z.literal('ntfy'), ...common, server: z.url().optional(), topic: z.string().min(1), token: secretRefSchema.optional(), priority: z.int().min(1).max(5).optional() }),
  z.strictObject({ type: z.literal('slack'), ...common, url: urlOrSecret }),
  z.strictObject({ type: z.literal('discord'), ...common, url: urlOrSecret }),
  z.strictObject({ type: z.literal('telegram'), ...common, bot_token: secretRefSchema, chat_id: z.union([z.string(), z.int()]), api_url: z.url().optional() }),
  z.strictObject({
    type: z.literal('email'),
    ...common,
    host: z.string().min(1),
    port: z.int().min(1).max(65535).optional(),
    tls: z.enum(['starttls', 'implicit', 'none']).optional().describe('default starttls (port 587); implicit for 465; none only for a local relay'),
    username: z.string().optional(),
    password: secretRefSchema.optional(),
    from: z.string().min(3),
    to: z.array(z.string().min(3)).min(1),
  }),
]);

export type DaemonConfig = z.infer<typeof daemonSchema>;
export type NotificationConfig = z.infer<typeof notificationSchema>;

// The daemon sits above app and may not reach into sources/: what it needs of the config's
// vocabulary (durations, secret references) it takes from here.
export { parseDurationMs } from '../sources/source-kit.ts';
export type { SecretRef, SecretResolver } from '../sources/source-kit.ts';
