/**
 * Progress of a stack backup or restore, per source (the CLI and the daemon show the same): bytes, rate and (when the total is known)
 * percentage and ETA. Pure: the caller passes the time, so the pacing is testable without
 * waiting. A TTY gets one line redrawn at most every 200 ms naming every running source;
 * `--json` gets a `progress` event per source at most once a second (restic's `status` lines
 * are as frequent), so a fast run prints none and the report stays the last line.
 */
import type { SourceProgress } from './run-report.ts';
import { formatBytes } from '../util/format.ts';

/** The `--json` progress event (docs/reports.md). */
export interface ProgressEvent {
  message_type: 'progress';
  phase: 'backup' | 'restore';
  source: string;
  bytes: number;
  bytes_added?: number;
  total?: number;
  percent?: number;
  elapsed_ms: number;
  bytes_per_second: number;
  eta_seconds?: number;
}

const LINE_EVERY_MS = 200;
const EVENT_EVERY_MS = 1000;

export class ProgressMeter {
  readonly #sources = new Map<string, { started: number; last: SourceProgress; eventAt: number }>();
  #lineAt = -Infinity;

  /** Records `p`; returns the line to draw and the event to print when they are due. */
  update(p: SourceProgress, now: number): { line?: string; event?: ProgressEvent } {
    let s = this.#sources.get(p.source);
    if (!s) {
      s = { started: now, last: p, eventAt: now };
      this.#sources.set(p.source, s);
    }
    s.last = p;
    const out: { line?: string; event?: ProgressEvent } = {};
    if (now - s.eventAt >= EVENT_EVERY_MS) {
      s.eventAt = now;
      out.event = this.#event(p, now - s.started);
    }
    if (now - this.#lineAt >= LINE_EVERY_MS) {
      this.#lineAt = now;
      out.line = [...this.#sources.values()].map((x) => this.#text(x.last, now - x.started)).join('  |  ');
    }
    return out;
  }

  /** A source finished: it leaves the line. */
  done(source: string): void {
    this.#sources.delete(source);
  }

  #event(p: SourceProgress, ms: number): ProgressEvent {
    const rate = ms > 0 ? Math.round((p.bytes / ms) * 1000) : 0;
    const e: ProgressEvent = { message_type: 'progress', phase: p.phase, source: p.source, bytes: p.bytes, elapsed_ms: ms, bytes_per_second: rate };
    if (p.bytes_added !== undefined) e.bytes_added = p.bytes_added;
    if (p.total !== undefined && p.total > 0) {
      e.total = p.total;
      e.percent = Math.min(100, Math.round((1000 * p.bytes) / p.total) / 10);
      if (p.bytes > 0 && p.bytes < p.total) e.eta_seconds = Math.round(((p.total - p.bytes) / p.bytes) * ms / 1000);
    }
    return e;
  }

  #text(p: SourceProgress, ms: number): string {
    const rate = ms > 0 ? (p.bytes / ms) * 1000 : 0;
    const parts = [`${p.source}: ${formatBytes(p.bytes)}`];
    if (p.total !== undefined && p.total > 0) parts.push(`${Math.min(100, (100 * p.bytes) / p.total).toFixed(0)}%`);
    parts.push(`${formatBytes(Math.round(rate))}/s`);
    if (p.bytes_added !== undefined) parts.push(`+${formatBytes(p.bytes_added)}`);
    if (p.total !== undefined && p.bytes > 0 && p.bytes < p.total) {
      const s = Math.round(((p.total - p.bytes) / p.bytes) * ms / 1000);
      parts.push(`ETA ${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`);
    }
    return parts.join(' ');
  }
}
