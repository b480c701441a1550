import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { CommandRunner, RunSpec, RunningCommand } from '../../core/command-runner.ts';
import { SourceError } from '../../core/errors.ts';
import { connectThrough } from './redis-tunnel.ts';

/** Runs commands on this host, as the container transport runs them in a container (stageFile marks "elsewhere"). */
function hostRunner(env: Record<string, string> = {}): CommandRunner {
  return {
    start(spec: RunSpec): RunningCommand {
      const child = spawn(spec.command === 'sh' ? '/bin/sh' : spec.command, spec.args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (c: Buffer) => void (stderr += c.toString()));
      child.stdin.on('error', () => undefined);
      const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) => {
        child.on('error', () => resolve({ code: 127, signal: null, stderr: `${spec.command}: not found` }));
        child.on('close', (code, signal) => resolve({ code, signal, stderr }));
      });
      return { stdout: child.stdout, stdin: child.stdin, done, kill: (s) => void child.kill(s) };
    },
    stageFile: () => Promise.reject(new Error('not used')),
  };
}

/** A server that answers every command with +PONG. */
async function pongServer(): Promise<{ port: number; close(): Promise<void>; open(): number }> {
  let open = 0;
  const server = net.createServer((c) => {
    open++;
    c.on('close', () => void open--);
    c.on('data', () => c.write('+PONG\r\n'));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as net.AddressInfo).port, close: () => new Promise((r) => server.close(() => r())), open: () => open };
}

test('a client reaches the server through the tunnel; its socket dir is gone once connected', async () => {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'lb-tunnel-'));
  const srv = await pongServer();
  try {
    const client = await connectThrough(hostRunner(), tmp, { host: '127.0.0.1', port: srv.port, db: 0 }, { what: 'test redis' }, 'container c1');
    try {
      assert.equal(await client.call(['PING']), 'PONG');
      assert.deepEqual(await readdir(tmp), [], 'the tunnel socket is still there');
    } finally {
      client.close();
    }
    // The tunnel's own connection to the server ends with the client (no copier left behind).
    for (let i = 0; srv.open() > 0 && i < 100; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(srv.open(), 0, 'the tunnel still holds a connection to the server');
  } finally {
    await srv.close();
    await rm(tmp, { recursive: true, force: true });
  }
});

test('nothing listening over there: one line naming the address and where it was tried', async () => {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'lb-tunnel-'));
  const srv = await pongServer();
  const port = srv.port;
  await srv.close();
  try {
    await assert.rejects(connectThrough(hostRunner(), tmp, { host: '127.0.0.1', port, db: 0, password: 'p' }, { what: 'redis source cache' }, 'container c1'),
      (err: unknown) => err instanceof SourceError && err.message.startsWith(`redis source cache: cannot connect to 127.0.0.1:${port} from container c1: `));
    assert.equal(existsSync(path.join(tmp, 'x')), false);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
});

test('an image without bash, socat or nc: a coded error saying what to install', async () => {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'lb-tunnel-'));
  try {
    await assert.rejects(connectThrough(hostRunner({ PATH: '/nonexistent' }), tmp, { host: '127.0.0.1', port: 1, db: 0 }, { what: 'redis source cache' }, 'container bare'),
      (err: unknown) => err instanceof SourceError && /container bare: neither bash, socat nor nc is there/.test(err.message) && /install bash, socat or netcat/.test(err.hint ?? ''));
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
});
