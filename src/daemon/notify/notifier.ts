/**
 * Notifications: the channels of lifeboat.yml's `notifications:` built with their secrets
 * resolved at send time, and `notify()`, which sends an alert to every channel that wants its
 * event, each bounded by its timeout, all at once. A channel that fails never stops the others
 * or the daemon: the failure is returned (and logged by the caller) as one line without secrets.
 */
import { hostname } from 'node:os';
import { errorMessage } from '../../core/errors.ts';
import type { NotificationConfig, NotifyEvent } from '../../config/daemon-schema.ts';
import { parseDurationMs } from '../../config/daemon-schema.ts';
import type { SecretRef, SecretResolver } from '../../config/daemon-schema.ts';
import type { AlertEvent, Channel } from './alert.ts';
import { headline } from './alert.ts';
import { discordRequest, healthchecksRequest, ntfyRequest, sendRequest, slackRequest, telegramRequest, webhookRequest } from './http-channels.ts';
import type { Fetch, HttpRequest } from './http-channels.ts';
import { sendMail } from './smtp-client.ts';
import { nowDate } from '../../util/clock.ts';

export type { AlertEvent, Channel } from './alert.ts';

// A restore replaced live data (or failed to): every channel hears of it unless it opts out.
const DEFAULT_EVENTS: readonly NotifyEvent[] = ['failure', 'overdue', 'recovery', 'restore'];
const HEALTHCHECKS_EVENTS: readonly NotifyEvent[] = ['start', 'success', 'failure', 'overdue'];

export interface ChannelDeps {
  readonly secrets: SecretResolver;
  readonly fetch?: Fetch;
}

export function createChannels(configs: readonly NotificationConfig[], deps: ChannelDeps): Channel[] {
  return configs.map((c, i) => createChannel(c, i, deps));
}

function createChannel(c: NotificationConfig, index: number, deps: ChannelDeps): Channel {
  const name = c.name ?? `${c.type}#${index + 1}`;
  const what = `notifications[${index}]`;
  const secret = (v: string | SecretRef, key: string): Promise<string> => (typeof v === 'string' ? Promise.resolve(v) : deps.secrets(v, `${what}.${key}`));
  const events = new Set(c.on ?? (c.type === 'healthchecks' ? HEALTHCHECKS_EVENTS : DEFAULT_EVENTS));
  const timeoutMs = c.timeout ? parseDurationMs(c.timeout) : 10_000;
  const http = (build: (alert: AlertEvent) => Promise<HttpRequest | undefined>): Channel['send'] => async (alert, signal) => {
    const req = await build(alert);
    if (req) await sendRequest(name, req, signal, deps.fetch);
  };
  let send: Channel['send'];
  switch (c.type) {
    case 'webhook':
      send = http(async (a) => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(c.headers ?? {})) headers[k] = await secret(v, `headers.${k}`);
        return webhookRequest(await secret(c.url, 'url'), a, { method: c.method, headers, template: c.template });
      });
      break;
    case 'healthchecks':
      send = http(async (a) => healthchecksRequest(await secret(c.url, 'url'), a));
      break;
    case 'ntfy':
      send = http(async (a) => ntfyRequest(c.server ?? 'https://ntfy.sh', c.topic, a, c.token ? await secret(c.token, 'token') : undefined, c.priority));
      break;
    case 'slack':
      send = http(async (a) => slackRequest(await secret(c.url, 'url'), a));
      break;
    case 'discord':
      send = http(async (a) => discordRequest(await secret(c.url, 'url'), a));
      break;
    case 'telegram':
      send = http(async (a) => telegramRequest(c.api_url ?? 'https://api.telegram.org', await secret(c.bot_token, 'bot_token'), c.chat_id, a));
      break;
    case 'email': {
      const mode = c.tls ?? 'starttls';
      send = async (a, signal) => sendMail({
        host: c.host,
        port: c.port ?? (mode === 'implicit' ? 465 : mode === 'starttls' ? 587 : 25),
        tls: mode,
        username: c.username,
        password: c.password ? await secret(c.password, 'password') : undefined,
        from: c.from,
        to: c.to,
        subject: headline(a),
        text: `${a.title}\n\n${a.message}\n\nhost: ${a.host}\nat: ${a.at}\nsubject: ${a.subject}${a.run_id !== undefined ? `\nrun: ${a.run_id}` : ''}\n`,
      }, signal);
      break;
    }
  }
  return { name, type: c.type, events, timeoutMs, send };
}

export interface NotifyResult {
  readonly channel: string;
  readonly ok: boolean;
  readonly error?: string;
}

/** Sends `alert` to each channel that wants its event (`force`: to all, for `notify test`). */
export async function notify(channels: readonly Channel[], alert: AlertEvent, opts: { force?: boolean } = {}): Promise<NotifyResult[]> {
  const chosen = channels.filter((c) => opts.force || c.events.has(alert.event));
  return Promise.all(chosen.map(async (c) => {
    try {
      await c.send(alert, AbortSignal.timeout(c.timeoutMs));
      return { channel: c.name, ok: true };
    } catch (err) {
      return { channel: c.name, ok: false, error: errorMessage(err) };
    }
  }));
}

/** An alert with the fields every alert has. */
export function makeAlert(fields: Omit<AlertEvent, 'at' | 'host'>, at: Date = nowDate()): AlertEvent {
  return { ...fields, at: at.toISOString(), host: hostname() };
}
