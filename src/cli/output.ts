/**
 * Output: everything the CLI prints goes through here. Human mode prints readable lines and
 * tables to stdout, progress to stderr on a TTY only; --json mode prints exactly one JSON
 * document (or JSON lines for streams of events) on stdout and nothing else there.
 */
import { LifeboatError, errorMessage } from '../core/errors.ts';

export interface OutputOptions {
  json: boolean;
  debug: boolean;
  quiet?: boolean;
  stdout?: NodeJS.WritableStream & { isTTY?: boolean };
  stderr?: NodeJS.WritableStream & { isTTY?: boolean };
}

export class Output {
  readonly json: boolean;
  readonly debug: boolean;
  readonly quiet: boolean;
  readonly #out: NodeJS.WritableStream & { isTTY?: boolean };
  readonly #err: NodeJS.WritableStream & { isTTY?: boolean };
  #progressShown = false;

  constructor(opts: OutputOptions) {
    this.json = opts.json;
    this.debug = opts.debug;
    this.quiet = opts.quiet ?? false;
    this.#out = opts.stdout ?? process.stdout;
    this.#err = opts.stderr ?? process.stderr;
  }

  /** True when progress may be drawn: a TTY on stderr and not --json/--quiet. */
  get isInteractive(): boolean {
    return !this.json && !this.quiet && this.#err.isTTY === true;
  }

  /** The stdout stream, for commands that stream bytes (dump). */
  get stdout(): NodeJS.WritableStream {
    return this.#out;
  }

  /** A line of human output (ignored in --json mode). */
  line(text = ''): void {
    if (this.json || this.quiet) return;
    this.clearProgress();
    this.#out.write(text + '\n');
  }

  /** Raw bytes or text for stdout (dump, cat), in both modes. */
  raw(data: string | Uint8Array): void {
    this.#out.write(data);
  }

  /** The JSON result of a command (only in --json mode). */
  result(value: unknown): void {
    if (!this.json) return;
    this.#out.write(JSON.stringify(value) + '\n');
  }

  /** A warning to stderr, in both modes. */
  warn(text: string): void {
    this.clearProgress();
    this.#err.write(`warning: ${text}\n`);
  }

  /** A progress line redrawn in place on a TTY; nothing otherwise. */
  progress(text: string): void {
    if (!this.isInteractive) return;
    const width = (this.#err as { columns?: number }).columns ?? 100;
    this.#err.write('\r\x1b[2K' + text.slice(0, width - 1));
    this.#progressShown = true;
  }

  clearProgress(): void {
    if (!this.#progressShown) return;
    this.#err.write('\r\x1b[2K');
    this.#progressShown = false;
  }

  /** Prints an error as one clear line (plus hint); the stack only with --debug. */
  error(err: unknown): void {
    this.clearProgress();
    if (this.json) {
      const e = err instanceof LifeboatError ? err : undefined;
      this.#err.write(
        JSON.stringify({ error: { code: e?.code ?? 'internal', message: errorMessage(err), hint: e?.hint, data: e?.data } }) + '\n',
      );
    } else {
      let text = `lifeboat: ${errorMessage(err)}`;
      if (err instanceof LifeboatError && err.hint) text += `\n  hint: ${err.hint}`;
      this.#err.write(text + '\n');
    }
    if (this.debug) {
      const stack = err instanceof Error ? err.stack : undefined;
      if (stack) this.#err.write(stack + '\n');
      let cause = err instanceof Error ? err.cause : undefined;
      while (cause !== undefined) {
        this.#err.write(`caused by: ${cause instanceof Error ? cause.stack : String(cause)}\n`);
        cause = cause instanceof Error ? cause.cause : undefined;
      }
    }
  }

  /** Renders rows as an aligned text table (human mode). */
  table(headers: string[], rows: Array<Array<string | number>>): void {
    if (this.json || this.quiet) return;
    this.line(formatTable(headers, rows));
  }
}

export function formatTable(headers: string[], rows: Array<Array<string | number>>): string {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const fmt = (r: string[]): string => r.map((c, i) => (c ?? '').padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  const sep = widths.map((w) => '-'.repeat(w)).join('  ');
  return [fmt(cells[0] as string[]), sep, ...cells.slice(1).map(fmt)].join('\n');
}

export { formatBytes, formatDuration } from '../util/format.ts';
