/**
 * The channels that are one HTTP request: a generic webhook (body from a template), a
 * Healthchecks-style ping URL, ntfy, and Slack, Discord and Telegram through their webhook or
 * bot APIs. Each builds its request from the alert; `postJson` sends it with the caller's
 * signal (the timeout) and turns a non-2xx answer into an error that names the channel and the
 * status, never the URL (webhook URLs carry their token in the path).
 */
import { LifeboatError } from '../../core/errors.ts';
import type { AlertEvent } from './alert.ts';
import { headline, renderTemplate } from './alert.ts';

export type Fetch = typeof fetch;

export interface HttpRequest {
  url: string;
  method: string;
  headers: Record<string, string>;
  body?: string;
}

export async function sendRequest(channel: string, req: HttpRequest, signal: AbortSignal, doFetch: Fetch = fetch): Promise<void> {
  let res: Response;
  try {
    res = await doFetch(req.url, { method: req.method, headers: { 'user-agent': 'lifeboat', ...req.headers }, body: req.body, signal, redirect: 'error' });
  } catch (err) {
    // undici puts the reason in `cause`: a code (ECONNREFUSED, ENOTFOUND) or a message such as
    // "bad port"; neither carries the URL's path, where webhook tokens live.
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const why = signal.aborted ? 'timed out' : `could not connect (${cause?.code ?? cause?.message ?? (err as Error).name})`;
    throw new LifeboatError('notify_failed', `notification ${channel}: ${why}`, { retryable: true, hint: 'check the URL and that the service is reachable; try "lifeboat notify test"' });
  }
  // Drain the body so the connection is released.
  await res.arrayBuffer().catch(() => undefined);
  if (!res.ok) throw new LifeboatError('notify_failed', `notification ${channel}: the server answered ${res.status} ${res.statusText}`, { retryable: res.status >= 500, hint: 'check the URL, token and template; try "lifeboat notify test"' });
}

const json = (url: string, body: unknown, headers: Record<string, string> = {}): HttpRequest => ({
  url, method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body),
});

export function webhookRequest(url: string, alert: AlertEvent, opts: { method?: string; headers?: Record<string, string>; template?: string }): HttpRequest {
  const method = opts.method ?? 'POST';
  if (method === 'GET') return { url: renderTemplate(url, alert, 'none'), method, headers: opts.headers ?? {} };
  const body = opts.template !== undefined ? renderTemplate(opts.template, alert, 'json') : JSON.stringify(alert);
  return { url, method, headers: { 'content-type': 'application/json', ...opts.headers }, body };
}

/** Healthchecks: `<url>/start`, `<url>` for success, `<url>/fail`; the message as the body. */
export function healthchecksRequest(url: string, alert: AlertEvent): HttpRequest | undefined {
  const base = url.replace(/\/+$/, '');
  const suffix = { start: '/start', success: '', recovery: '', failure: '/fail', overdue: '/fail', restore: '/log' }[alert.event];
  return { url: `${base}${suffix}`, method: 'POST', headers: { 'content-type': 'text/plain; charset=utf-8' }, body: `${alert.title}\n${alert.message}\n`.slice(0, 100_000) };
}

export function ntfyRequest(server: string, topic: string, alert: AlertEvent, token?: string, priority?: number): HttpRequest {
  const pri = priority ?? (alert.event === 'failure' || alert.event === 'overdue' ? 4 : 3);
  return json(server.replace(/\/+$/, '') + '/', { topic, title: headline(alert), message: alert.message, priority: pri, tags: ['lifeboat', alert.event] }, token ? { authorization: `Bearer ${token}` } : {});
}

export function slackRequest(url: string, alert: AlertEvent): HttpRequest {
  return json(url, { text: `${headline(alert)}\n${alert.message}` });
}

export function discordRequest(url: string, alert: AlertEvent): HttpRequest {
  // Discord caps content at 2000 characters.
  return json(url, { content: `${headline(alert)}\n${alert.message}`.slice(0, 2000), allowed_mentions: { parse: [] } });
}

export function telegramRequest(apiUrl: string, botToken: string, chatId: string | number, alert: AlertEvent): HttpRequest {
  return json(`${apiUrl.replace(/\/+$/, '')}/bot${botToken}/sendMessage`, { chat_id: chatId, text: `${headline(alert)}\n${alert.message}`.slice(0, 4096), disable_web_page_preview: true });
}
