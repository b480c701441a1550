/**
 * What a notification says: one event about one subject (a job or a watchdog condition), as
 * plain fields every channel formats its own way. Nothing in it is a secret: messages are the
 * errors' one-line messages, which never carry secrets (core/errors.ts).
 */
import type { NotifyEvent } from '../../config/daemon-schema.ts';

export interface AlertEvent {
  readonly event: NotifyEvent;
  /** What it is about, stable: `backup:db`, `rpo:db`, `check-age`, `lock`, `rto:db`. */
  readonly subject: string;
  /** One line for a title or a subject header. */
  readonly title: string;
  /** One line of detail: the error, the age against the limit. */
  readonly message: string;
  readonly at: string;
  readonly host: string;
  readonly source?: string;
  readonly run_id?: number;
  readonly error_code?: string;
}

/** One place alerts go. `send` rejects on failure; the caller bounds it with `signal`. */
export interface Channel {
  readonly name: string;
  readonly type: string;
  readonly events: ReadonlySet<NotifyEvent>;
  readonly timeoutMs: number;
  send(alert: AlertEvent, signal: AbortSignal): Promise<void>;
}

/**
 * `{{field}}` placeholders filled from the alert (`{{title}}`, `{{message}}`, `{{event}}`,
 * `{{subject}}`, `{{source}}`, `{{host}}`, `{{at}}`, `{{run_id}}`, `{{error_code}}`, and
 * `{{json}}` for the whole alert). `json` escapes each value for a JSON string.
 */
export function renderTemplate(template: string, alert: AlertEvent, escape: 'json' | 'none'): string {
  return template.replace(/\{\{\s*\.?([a-z_]+)\s*\}\}/g, (whole, key: string) => {
    if (key === 'json') return JSON.stringify(alert);
    if (!(key in alert)) return key === 'source' || key === 'run_id' || key === 'error_code' ? '' : whole;
    const v = String((alert as unknown as Record<string, unknown>)[key] ?? '');
    return escape === 'json' ? JSON.stringify(v).slice(1, -1) : v;
  });
}

/** An emoji-free status word for chat messages. */
export function headline(alert: AlertEvent): string {
  const word = { failure: 'FAILED', overdue: 'OVERDUE', recovery: 'RECOVERED', start: 'started', success: 'ok', restore: 'RESTORE' }[alert.event];
  return `[lifeboat ${alert.host}] ${word}: ${alert.title}`;
}
