import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { formatMessage, sendMail } from './smtp-client.ts';

let dir: string;
let key: Buffer;
let cert: Buffer;
const hasOpenssl = await promisify(execFile)('openssl', ['version']).then(() => true, () => false);

before(async () => {
  if (!hasOpenssl) return;
  dir = await mkdtemp(path.join(tmpdir(), 'lifeboat-smtp-'));
  await promisify(execFile)('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-days', '1', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')]);
  key = await readFile(path.join(dir, 'key.pem'));
  cert = await readFile(path.join(dir, 'cert.pem'));
});
after(() => (dir ? rm(dir, { recursive: true, force: true }) : undefined));

/** An SMTP server that offers STARTTLS (or speaks TLS from the start) and records what it gets, and over what. */
async function server(mode: 'starttls' | 'implicit'): Promise<{ port: number; log: Array<{ line: string; secure: boolean }>; close(): Promise<void> }> {
  const log: Array<{ line: string; secure: boolean }> = [];
  const serve = (sock: net.Socket, secure: boolean, greet: boolean): void => {
    let buf = '';
    let data = false;
    if (greet) sock.write('220 relay ESMTP\r\n');
    const onData = (d: Buffer): void => {
      buf += d.toString('utf8');
      let i: number;
      while ((i = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        log.push({ line, secure });
        if (data) {
          if (line === '.') {
            data = false;
            sock.write('250 queued\r\n');
          }
          continue;
        }
        const cmd = line.split(' ')[0]?.toUpperCase();
        if (cmd === 'EHLO') sock.write(secure ? '250-relay\r\n250 AUTH PLAIN\r\n' : '250-relay\r\n250 STARTTLS\r\n');
        else if (cmd === 'STARTTLS') {
          sock.off('data', onData);
          sock.write('220 go ahead\r\n', () => {
            const secureSock = new tls.TLSSocket(sock, { isServer: true, key, cert });
            serve(secureSock, true, false);
          });
          return;
        } else if (cmd === 'AUTH') sock.write(secure ? '235 ok\r\n' : '530 TLS first\r\n');
        else if (cmd === 'DATA') {
          data = true;
          sock.write('354 go\r\n');
        }
        else if (cmd === 'QUIT') sock.end('221 bye\r\n');
        else sock.write('250 ok\r\n');
      }
    };
    sock.on('data', onData);
    sock.on('error', () => undefined);
  };
  const srv = mode === 'implicit' ? tls.createServer({ key, cert }, (s) => serve(s, true, true)) : net.createServer((s) => serve(s, false, true));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return { port: (srv.address() as AddressInfo).port, log, close: () => new Promise((r) => srv.close(() => r())) };
}

const message = { host: 'localhost', from: 'lifeboat <lb@example.org>', to: ['ops@example.org'], subject: 'backup of db failed', text: 'line one\n.starts with a dot\n', username: 'alerts', password: 'smtp-secret-6620' };

for (const mode of ['starttls', 'implicit'] as const) {
  test(`SMTP with ${mode}: the password and the mail travel only inside TLS`, { skip: !hasOpenssl && 'openssl is not installed' }, async () => {
    const srv = await server(mode);
    try {
      await sendMail({ ...message, port: srv.port, tls: mode, ca: cert }, AbortSignal.timeout(5000));
      const auth = srv.log.find((l) => l.line.startsWith('AUTH PLAIN'));
      assert.equal(auth?.secure, true);
      assert.equal(Buffer.from(auth?.line.split(' ')[2] ?? '', 'base64').toString(), '\0alerts\0smtp-secret-6620');
      assert.ok(srv.log.filter((l) => !l.secure).every((l) => /^(EHLO|STARTTLS)/.test(l.line)), 'nothing but EHLO and STARTTLS in the clear');
      assert.ok(srv.log.some((l) => l.line === '..starts with a dot' && l.secure), 'dot-stuffed');
    } finally {
      await srv.close();
    }
  });
}

test('SMTP refuses a relay whose certificate is not trusted, and one that does not offer STARTTLS', { skip: !hasOpenssl && 'openssl is not installed' }, async () => {
  const srv = await server('starttls');
  try {
    await assert.rejects(sendMail({ ...message, port: srv.port, tls: 'starttls' }, AbortSignal.timeout(5000)), /email via localhost:\d+: connection failed/);
    assert.ok(!srv.log.some((l) => l.line.startsWith('AUTH')), 'no password sent to an untrusted relay');
  } finally {
    await srv.close();
  }
  const plain = net.createServer((s) => {
    s.write('220 hi\r\n');
    s.on('data', () => s.write('250 relay\r\n'));
  });
  await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
  try {
    await assert.rejects(sendMail({ ...message, port: (plain.address() as AddressInfo).port, tls: 'starttls' }, AbortSignal.timeout(5000)), /does not offer STARTTLS/);
  } finally {
    await new Promise((r) => plain.close(r));
  }
});

test('formatMessage: headers, an encoded non-ASCII subject, CRLF and dot-stuffing', () => {
  const m = formatMessage({ ...message, port: 25, tls: 'none', subject: 'Sicherung fehlgeschlagen: Größe' }, new Date('2026-06-01T00:00:00Z'), 'x@lifeboat');
  assert.match(m, /^From: lifeboat <lb@example\.org>\r\nTo: ops@example\.org\r\nSubject: =\?UTF-8\?B\?[A-Za-z0-9+/=]+\?=\r\n/);
  assert.ok(m.endsWith('line one\r\n..starts with a dot\r\n\r\n.\r\n'));
});
