import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { createSecretResolver } from '../../config/secrets.ts';
import type { NotificationConfig } from '../../config/daemon-schema.ts';
import { createChannels, makeAlert, notify } from './notifier.ts';

interface Received { method: string; url: string; headers: http.IncomingHttpHeaders; body: string }

async function httpReceiver(status = 200): Promise<{ url: string; got: Received[]; close(): Promise<void> }> {
  const got: Received[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push({ method: req.method as string, url: req.url as string, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      if (req.url?.startsWith('/hang')) return; // never answers: the channel's timeout must end the call
      res.writeHead(req.url?.startsWith('/broken') ? 500 : status).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, got, close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }) };
}

/** A tiny SMTP receiver: accepts AUTH PLAIN user/pass, records the envelope and the data. */
async function smtpReceiver(): Promise<{ port: number; mails: Array<{ auth?: string; from: string; to: string[]; data: string }>; close(): Promise<void> }> {
  const mails: Array<{ auth?: string; from: string; to: string[]; data: string }> = [];
  const server = net.createServer((sock) => {
    let buf = '';
    let inData = false;
    const cur: { auth?: string; from: string; to: string[]; data: string } = { from: '', to: [], data: '' };
    sock.write('220 test ESMTP\r\n');
    sock.on('data', (d) => {
      buf += d.toString('utf8');
      let i: number;
      while ((i = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (inData) {
          if (line === '.') {
            inData = false;
            mails.push({ ...cur });
            sock.write('250 queued\r\n');
          } else cur.data += line + '\n';
          continue;
        }
        const cmd = line.split(' ')[0]?.toUpperCase();
        if (cmd === 'EHLO') sock.write('250-test\r\n250 AUTH PLAIN\r\n');
        else if (cmd === 'AUTH') {
          cur.auth = Buffer.from(line.split(' ')[2] ?? '', 'base64').toString('utf8');
          sock.write(cur.auth === '\0alerts\0smtp-pw-9913' ? '235 ok\r\n' : '535 bad credentials\r\n');
        } else if (cmd === 'MAIL') {
          cur.from = line;
          sock.write('250 ok\r\n');
        } else if (cmd === 'RCPT') {
          cur.to.push(line);
          sock.write('250 ok\r\n');
        } else if (cmd === 'DATA') {
          inData = true;
          sock.write('354 go\r\n');
        } else if (cmd === 'QUIT') sock.end('221 bye\r\n');
        else sock.write('500 what\r\n');
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, mails, close: () => new Promise((r) => server.close(() => r())) };
}

const env = { HOOK_TOKEN: 'hook-secret-4471', BOT: 'bot-secret-8812', SMTP_PW: 'smtp-pw-9913' };
const secrets = createSecretResolver({ env, baseDir: '/' });
const failure = makeAlert({ event: 'failure', subject: 'backup:db', title: 'backup of db failed', message: 'db: "pg_dump" exited with 1', source: 'db', run_id: 7, error_code: 'source' });

test('each channel sends the alert in its service\'s format, with secrets from references', async () => {
  const rx = await httpReceiver();
  const smtp = await smtpReceiver();
  try {
    const configs: NotificationConfig[] = [
      { type: 'webhook', url: `${rx.url}/hook`, headers: { authorization: { env: 'HOOK_TOKEN' } }, template: '{"text":"{{title}}: {{message}}","n":{{run_id}}}' },
      { type: 'healthchecks', url: `${rx.url}/hc/abc` },
      { type: 'ntfy', server: rx.url, topic: 'backups', token: { env: 'HOOK_TOKEN' } },
      { type: 'slack', url: `${rx.url}/slack` },
      { type: 'discord', url: `${rx.url}/discord` },
      { type: 'telegram', api_url: rx.url, bot_token: { env: 'BOT' }, chat_id: 42 },
      { type: 'email', host: '127.0.0.1', port: smtp.port, tls: 'none', username: 'alerts', password: { env: 'SMTP_PW' }, from: 'lifeboat <lb@example.org>', to: ['ops@example.org'] },
    ];
    const channels = createChannels(configs, { secrets });
    const results = await notify(channels, failure);
    assert.deepEqual(results.filter((r) => !r.ok), []);
    const by = (p: string) => rx.got.find((g) => g.url.startsWith(p)) as Received;
    assert.deepEqual(JSON.parse(by('/hook').body), { text: 'backup of db failed: db: "pg_dump" exited with 1', n: 7 });
    assert.equal(by('/hook').headers.authorization, 'hook-secret-4471');
    assert.equal(by('/hc/abc').url, '/hc/abc/fail');
    assert.match(by('/hc/abc').body, /backup of db failed/);
    const ntfy = rx.got.find((g) => g.url === '/') as Received;
    assert.equal(ntfy.headers.authorization, 'Bearer hook-secret-4471');
    assert.equal(JSON.parse(ntfy.body).topic, 'backups');
    assert.match(JSON.parse(by('/slack').body).text, /FAILED: backup of db failed/);
    assert.match(JSON.parse(by('/discord').body).content, /pg_dump/);
    assert.equal(by('/botbot-secret-8812/sendMessage').headers['content-type'], 'application/json');
    assert.equal(JSON.parse(by('/botbot-secret-8812/sendMessage').body).chat_id, 42);
    assert.equal(smtp.mails.length, 1);
    assert.equal(smtp.mails[0]?.to[0], 'RCPT TO:<ops@example.org>');
    assert.match(smtp.mails[0]?.data ?? '', /^Subject: \[lifeboat .*\] FAILED: backup of db failed$/m);
    assert.match(smtp.mails[0]?.data ?? '', /pg_dump/);

    // Healthchecks wants start and success too (the bare URL); a recovery goes to the default channels.
    rx.got.length = 0;
    await notify(channels, makeAlert({ event: 'success', subject: 'backup:db', title: 'backup of db ok', message: '' }));
    assert.deepEqual(rx.got.map((g) => g.url), ['/hc/abc']);
  } finally {
    await rx.close();
    await smtp.close();
  }
});

test('a failing, hanging or refused channel is one line without the secret, and the others still get the alert', async () => {
  const rx = await httpReceiver();
  const smtp = await smtpReceiver();
  try {
    const channels = createChannels([
      { type: 'webhook', url: { env: 'HOOK_URL' } },
      { type: 'slack', url: `${rx.url}/hang`, timeout: '300ms' },
      { type: 'discord', url: `${rx.url}/ok` },
      { type: 'email', host: '127.0.0.1', port: smtp.port, tls: 'none', username: 'alerts', password: { env: 'BOT' }, from: 'lb@example.org', to: ['ops@example.org'] },
      { type: 'email', host: '192.0.2.1', tls: 'none', username: 'alerts', password: { env: 'SMTP_PW' }, from: 'lb@example.org', to: ['ops@example.org'] },
    ], { secrets: createSecretResolver({ env: { ...env, HOOK_URL: `${rx.url}/broken/hook-secret-4471` }, baseDir: '/' }) });
    const results = await notify(channels, failure);
    assert.deepEqual(results.map((r) => r.ok), [false, false, true, false, false]);
    assert.equal(results[0]?.error, 'notification webhook#1: the server answered 500 Internal Server Error');
    assert.equal(results[1]?.error, 'notification slack#2: timed out');
    assert.match(results[3]?.error ?? '', /refused AUTH: 535$/);
    assert.match(results[4]?.error ?? '', /refusing to send the SMTP password without TLS/);
    const text = JSON.stringify(results);
    for (const s of Object.values(env)) assert.ok(!text.includes(s), `no secret in ${text}`);
  } finally {
    await rx.close();
    await smtp.close();
  }
});
