import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { CommandRunner, RunSpec, RunningCommand } from '../core/command-runner.ts';
import { openTunnelListener } from './net-tunnel.ts';
import { TunnelFetchers, fetchThrough } from './tunnel-fetch.ts';

/** Runs commands on this host, as a container or ssh transport runs them where the store is. */
const hostRunner: CommandRunner = {
  start(spec: RunSpec): RunningCommand {
    const child = spawn(spec.command, spec.args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => void (stderr += c.toString()));
    child.stdin.on('error', () => undefined);
    const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) => {
      child.on('close', (code, signal) => resolve({ code, signal, stderr }));
    });
    return { stdout: child.stdout, stdin: child.stdin, done, kill: (s) => void child.kill(s) };
  },
  stageFile: () => Promise.reject(new Error('not used')),
};

/** Echoes method, Host and body; /slow sends one chunk and then nothing; /empty answers 204. */
async function httpServer(): Promise<{ port: number; open(): number; close(): Promise<void> }> {
  let open = 0;
  const server = http.createServer(async (req, res) => {
    if (req.url === '/slow') {
      res.writeHead(200);
      res.write('first');
      return;
    }
    if (req.url === '/empty') {
      req.resume();
      res.writeHead(204).end();
      return;
    }
    const parts: Buffer[] = [];
    for await (const c of req) parts.push(c as Buffer);
    res.end(`${req.method} ${req.headers.host} ${Buffer.concat(parts).toString()}`);
  });
  server.on('connection', (c) => {
    open++;
    c.on('close', () => void open--);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    open: () => open,
    close: () => new Promise((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

const settle = async (check: () => boolean): Promise<void> => {
  for (let i = 0; !check() && i < 100; i++) await new Promise((r) => setTimeout(r, 20));
};

test('requests through a listener tunnel: one command and one connection each, bodies and Host intact, nothing left open', async () => {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'lb-tfetch-'));
  const srv = await httpServer();
  const tunnel = await openTunnelListener(hostRunner, '127.0.0.1', srv.port, tmp, 'container c1');
  try {
    const f = fetchThrough(tunnel);
    const url = `http://127.0.0.1:${srv.port}`;
    assert.equal(await (await f(`${url}/a`)).text(), `GET 127.0.0.1:${srv.port} `);
    assert.equal(await (await f(`${url}/b`, { method: 'PUT', body: '{"k":1}' })).text(), `PUT 127.0.0.1:${srv.port} {"k":1}`);
    const stream = ReadableStream.from((async function* () {
      yield new TextEncoder().encode('part1-');
      yield new TextEncoder().encode('part2');
    })());
    assert.equal(await (await f(`${url}/c`, { method: 'POST', body: stream, duplex: 'half' } as RequestInit)).text(), `POST 127.0.0.1:${srv.port} part1-part2`);
    const empty = await f(`${url}/empty`, { method: 'DELETE' });
    assert.equal(empty.status, 204);
    await settle(() => srv.open() === 0);
    assert.equal(srv.open(), 0, 'a tunnel command still holds a connection to the server');
  } finally {
    await tunnel.close();
    await srv.close();
  }
  assert.deepEqual(await readdir(tmp), [], 'the tunnel socket dir is left');
  await rm(tmp, { recursive: true, force: true });
});

test('an abort ends a streaming body and its connection over there', async () => {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'lb-tfetch-'));
  const srv = await httpServer();
  const fetchers = new TunnelFetchers((host, port) => openTunnelListener(hostRunner, host, port, tmp, 'container c1'));
  try {
    await fetchers.using(async () => {
      const ac = new AbortController();
      const res = await (await fetchers.fetchFor(`http://127.0.0.1:${srv.port}`))(`http://127.0.0.1:${srv.port}/slow`, { signal: ac.signal });
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      assert.equal(new TextDecoder().decode((await reader.read()).value), 'first');
      ac.abort(new Error('idle'));
      await assert.rejects(reader.read());
    });
    // The operation ended: its tunnels are closed, their socket dirs gone.
    assert.deepEqual(await readdir(tmp), []);
    await settle(() => srv.open() === 0);
    assert.equal(srv.open(), 0, 'the aborted request still holds a connection to the server');
  } finally {
    await fetchers.close();
    await srv.close();
    await rm(tmp, { recursive: true, force: true });
  }
});

test('nothing listening over there: fetch failed, caused by the far end\'s refusal', async () => {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'lb-tfetch-'));
  const srv = await httpServer();
  const port = srv.port;
  await srv.close();
  const tunnel = await openTunnelListener(hostRunner, '127.0.0.1', port, tmp, 'container c1');
  try {
    await assert.rejects(fetchThrough(tunnel)(`http://127.0.0.1:${port}/`), (err: unknown) => {
      const cause = (err as { cause?: Error }).cause;
      return err instanceof TypeError && err.message === 'fetch failed' && /refused/i.test(cause?.message ?? '');
    });
  } finally {
    await tunnel.close();
    await rm(tmp, { recursive: true, force: true });
  }
});
