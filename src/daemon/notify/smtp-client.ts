/**
 * A minimal SMTP submission client (RFC 5321, STARTTLS RFC 3207, AUTH PLAIN RFC 4616): enough
 * to hand one alert to a mail relay, on node:net and node:tls, no dependency.
 *
 * The password is sent only over TLS, or in the clear to a loopback relay (a local MTA), and
 * never appears in an error: errors quote the server's reply to the command that failed,
 * and for AUTH only its code.
 */
import net from 'node:net';
import tls from 'node:tls';
import { LifeboatError } from '../../core/errors.ts';
import { nowDate } from '../../util/clock.ts';

export interface SmtpMessage {
  host: string;
  port: number;
  tls: 'starttls' | 'implicit' | 'none';
  username?: string;
  password?: string;
  from: string;
  to: readonly string[];
  subject: string;
  text: string;
  /** Extra CA for a private relay (tests). */
  ca?: string | Buffer;
}

const isLoopback = (host: string): boolean => host === 'localhost' || /^127\./.test(host) || host === '::1';

/** Reads SMTP replies (possibly multi-line `250-…` then `250 …`) off a socket. */
class ReplyReader {
  #buf = '';
  #waiters: Array<(line: string) => void> = [];
  #lines: string[] = [];
  #error: Error | undefined;
  attach(socket: net.Socket): void {
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      this.#buf += d;
      let i: number;
      while ((i = this.#buf.indexOf('\n')) >= 0) {
        const line = this.#buf.slice(0, i).replace(/\r$/, '');
        this.#buf = this.#buf.slice(i + 1);
        const w = this.#waiters.shift();
        if (w) w(line);
        else this.#lines.push(line);
      }
    });
  }
  fail(err: Error): void {
    this.#error = err;
    for (const w of this.#waiters.splice(0)) w('');
  }
  async #line(): Promise<string> {
    if (this.#lines.length > 0) return this.#lines.shift() as string;
    if (this.#error) throw this.#error;
    const line = await new Promise<string>((r) => this.#waiters.push(r));
    if (this.#error) throw this.#error;
    return line;
  }
  /** The whole reply: its code and text lines. */
  async reply(): Promise<{ code: number; lines: string[] }> {
    const lines: string[] = [];
    for (;;) {
      const line = await this.#line();
      lines.push(line.slice(4));
      if (line[3] !== '-') return { code: Number(line.slice(0, 3)), lines };
    }
  }
}

function encodeHeader(s: string): string {
  return /^[\x20-\x7e]*$/.test(s) ? s : `=?UTF-8?B?${Buffer.from(s, 'utf8').toString('base64')}?=`;
}

/** The message as sent after DATA: headers, a blank line, the body with dot-stuffing, CRLF. */
export function formatMessage(m: SmtpMessage, date: Date = nowDate(), id = `${date.getTime()}.${process.pid}@lifeboat`): string {
  const body = m.text.replace(/\r?\n/g, '\r\n').split('\r\n').map((l) => (l.startsWith('.') ? `.${l}` : l)).join('\r\n');
  return [
    `From: ${m.from}`,
    `To: ${m.to.join(', ')}`,
    `Subject: ${encodeHeader(m.subject.replace(/[\r\n]+/g, ' '))}`,
    `Date: ${date.toUTCString()}`,
    `Message-ID: <${id}>`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 8bit',
    '',
    body,
  ].join('\r\n') + '\r\n.\r\n';
}

export async function sendMail(m: SmtpMessage, signal: AbortSignal): Promise<void> {
  if (m.password !== undefined && m.tls === 'none' && !isLoopback(m.host)) {
    throw new LifeboatError('notify_failed', `email via ${m.host}: refusing to send the SMTP password without TLS`, { hint: 'set tls: starttls or implicit (or use a relay on this host)' });
  }
  const what = `email via ${m.host}:${m.port}`;
  let socket: net.Socket = m.tls === 'implicit'
    ? tls.connect({ host: m.host, port: m.port, servername: net.isIP(m.host) ? undefined : m.host, ca: m.ca })
    : net.connect({ host: m.host, port: m.port });
  let reader = new ReplyReader();
  const fail = (err: Error): void => reader.fail(new LifeboatError('notify_failed', `${what}: ${signal.aborted ? 'timed out' : `connection failed (${(err as NodeJS.ErrnoException).code ?? err.message})`}`, { retryable: true, hint: 'check host, port and tls; try "lifeboat notify test"' }));
  const onAbort = (): void => {
    socket.destroy(new Error('timed out'));
  };
  signal.addEventListener('abort', onAbort, { once: true });
  socket.on('error', fail);
  socket.on('close', () => fail(new Error('closed by the server')));
  reader.attach(socket);
  const write = (line: string): void => void socket.write(line);
  const expect = async (command: string, ok: number[], shown = command): Promise<string[]> => {
    if (command !== '') write(`${command}\r\n`);
    const r = await reader.reply();
    if (!ok.includes(r.code)) {
      const detail = shown.startsWith('AUTH') ? `${r.code}` : `${r.code} ${r.lines.join(' ')}`;
      throw new LifeboatError('notify_failed', `${what}: the server refused ${shown.split(' ')[0]}: ${detail}`, { hint: 'check from, to, username and password' });
    }
    return r.lines;
  };
  try {
    await expect('', [220]);
    let ehlo = await expect('EHLO lifeboat', [250]);
    if (m.tls === 'starttls') {
      if (!ehlo.some((l) => /^STARTTLS\b/i.test(l))) throw new LifeboatError('notify_failed', `${what}: the server does not offer STARTTLS`, { hint: 'use tls: implicit (port 465), or tls: none for a local relay' });
      await expect('STARTTLS', [220]);
      socket.removeAllListeners('data');
      socket = tls.connect({ socket, servername: net.isIP(m.host) ? undefined : m.host, ca: m.ca });
      reader = new ReplyReader();
      socket.on('error', fail);
      reader.attach(socket);
      ehlo = await expect('EHLO lifeboat', [250]);
    }
    if (m.username !== undefined && m.password !== undefined) {
      const token = Buffer.from(`\0${m.username}\0${m.password}`, 'utf8').toString('base64');
      await expect(`AUTH PLAIN ${token}`, [235], 'AUTH PLAIN');
    }
    await expect(`MAIL FROM:<${m.from.replace(/^.*<|>.*$/g, '')}>`, [250]);
    for (const to of m.to) await expect(`RCPT TO:<${to.replace(/^.*<|>.*$/g, '')}>`, [250, 251]);
    await expect('DATA', [354]);
    await expect(formatMessage(m).replace(/\r\n$/, ''), [250], 'message');
    await expect('QUIT', [221]).catch(() => undefined); // the mail is accepted; a rude QUIT does not matter
  } finally {
    signal.removeEventListener('abort', onAbort);
    socket.removeAllListeners('close');
    socket.destroy();
  }
}
