/**
 * The S3 client with `socketPath` (the local end of a tunnel): an https endpoint whose name
 * resolves nowhere is reached through the socket, TLS verified against the endpoint's name
 * (SNI and certificate), and a listing comes back. Runs in a child process, the only way to
 * make node trust the test's CA (NODE_EXTRA_CA_CERTS is read at start).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { needBinaries } from '../../../test/support/require.ts';
import { tempDir } from '../../../test/support/tmp.ts';

const run = promisify(execFile);

test('an https endpoint is reached through the tunnel\'s socket with its own name for TLS', async (t) => {
  if (!needBinaries(t as never, 'openssl')) return;
  const tmp = await tempDir('s3-tunnel');
  try {
    const key = path.join(tmp.path, 'k.pem');
    const cert = path.join(tmp.path, 'c.pem');
    await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', '1',
      '-subj', '/CN=s3.lifeboat.invalid', '-addext', 'subjectAltName=DNS:s3.lifeboat.invalid']);
    const script = path.join(tmp.path, 'probe.ts');
    await writeFile(script, `
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { S3BucketClient } from ${JSON.stringify(path.join(import.meta.dirname, 's3-client.ts'))};
const sock = ${JSON.stringify(path.join(tmp.path, 's.sock'))};
let sni = '';
const srv = https.createServer({ key: readFileSync(${JSON.stringify(key)}), cert: readFileSync(${JSON.stringify(cert)}) }, (req, res) => {
  sni = req.socket.servername;
  res.writeHead(200, { 'content-type': 'application/xml' });
  res.end('<?xml version="1.0"?><ListBucketResult><Name>b</Name><KeyCount>1</KeyCount><IsTruncated>false</IsTruncated><Contents><Key>docs/a.txt</Key><Size>3</Size><ETag>"x"</ETag><LastModified>2026-01-01T00:00:00.000Z</LastModified></Contents></ListBucketResult>');
});
srv.listen(sock, async () => {
  const c = new S3BucketClient('s3 source t', { endpoint: 'https://s3.lifeboat.invalid', accessKeyId: 'a', secretAccessKey: 'b', connectTimeoutMs: 5000, idleTimeoutMs: 5000, socketPath: sock });
  const keys = [];
  for await (const o of c.list('b', '', new AbortController().signal)) keys.push(o.key + ':' + o.size);
  console.log(JSON.stringify({ keys, sni }));
  c.close();
  srv.close();
});
`);
    const { stdout } = await run(process.execPath, [script], { env: { ...process.env, NODE_EXTRA_CA_CERTS: cert }, timeout: 60_000 });
    assert.deepEqual(JSON.parse(stdout.trim().split('\n').at(-1) as string), { keys: ['docs/a.txt:3'], sni: 's3.lifeboat.invalid' });
  } finally {
    await tmp.cleanup();
  }
});
