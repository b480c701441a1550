/**
 * `lifeboat notify test`: a test alert to every channel, whatever events each is set for; each
 * channel's result in a table (or JSON); a failing channel makes the command fail, naming it,
 * without printing the secret its URL or headers carry.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runCli } from '../support/in-process-cli.ts';
import { tempDir } from '../support/tmp.ts';

test('notify test reaches every channel and names the one that failed', async () => {
  const tmp = await tempDir('notify-test');
  const got: Array<{ url: string; body: string }> = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      got.push({ url: req.url ?? '', body });
      res.writeHead(req.url?.includes('broken') ? 403 : 200).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const cfg = path.join(tmp.path, 'lifeboat.yml');
    const write = (channels: string) => writeFile(cfg, `
repository: { url: ./repo, password: { env: LB_PW } }
state_dir: ./state
notifications:
${channels}
`);
    const env = { HOME: tmp.path, HOOK_URL: `${base}/hook/secret-path-5531`, BROKEN_URL: `${base}/broken/secret-path-7720` };
    await write(`  - { type: webhook, name: ops-hook, url: { env: HOOK_URL }, on: [overdue] }\n  - { type: slack, url: "${base}/slack" }`);
    const ok = await runCli(['-c', cfg, 'notify', 'test'], env);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /ops-hook\s+webhook\s+sent/);
    assert.deepEqual(got.map((g) => g.url).sort(), ['/hook/secret-path-5531', '/slack']);
    assert.equal(JSON.parse(got.find((g) => g.url.startsWith('/hook'))?.body ?? '{}').title, 'test notification from lifeboat');

    await write(`  - { type: webhook, url: { env: BROKEN_URL } }\n  - { type: discord, url: "${base}/discord" }`);
    const bad = await runCli(['-c', cfg, '--json', 'notify', 'test', '--event', 'recovery'], env);
    assert.equal(bad.code, 1);
    const result = JSON.parse(bad.stdout.trim().split('\n')[0] as string) as { results: Array<{ channel: string; ok: boolean; error?: string }> };
    assert.deepEqual(result.results.map((r) => [r.channel, r.ok]), [['webhook#1', false], ['discord#2', true]]);
    assert.equal(result.results[0]?.error, 'notification webhook#1: the server answered 403 Forbidden');
    assert.match(bad.stderr, /1 of 2 notification channel\(s\) failed: webhook#1/);
    assert.ok(!(bad.stdout + bad.stderr + ok.stdout + ok.stderr).includes('secret-path'), 'no secret URL printed');
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await tmp.cleanup();
  }
});
