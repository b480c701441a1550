/**
 * The client against a scripted fake server on loopback: the replication framing quirks
 * (keep-alive newlines, diskless EOF marks split across packets, trailing command stream,
 * early close) are hard to provoke on a real server, so they are played here byte by byte.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { CancelledError, SourceError } from '../../core/errors.ts';
import { RedisClient, RedisReplyError, parseInfo } from './redis-client.ts';
import { RespParser, encodeCommand, type RespValue } from './resp.ts';

type Script = (cmd: string[], sock: net.Socket) => void | Promise<void>;

/** A server that hands every parsed command to `script`. */
async function fakeServer(t: TestContext, script: Script): Promise<number> {
  const server = net.createServer((sock) => {
    const parser = new RespParser();
    let chain = Promise.resolve();
    sock.on('error', () => undefined);
    sock.on('data', (chunk) => {
      parser.push(chunk);
      for (let v = parser.next(); v !== undefined; v = parser.next()) {
        const cmd = (v as RespValue[]).map((x) => (x as Buffer).toString('latin1'));
        chain = chain.then(() => script(cmd, sock));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const addr = server.address();
  return typeof addr === 'object' && addr !== null ? addr.port : 0;
}

/** Writes `data` in small pieces with pauses, so the client sees many partial packets. */
async function dribble(sock: net.Socket, data: Buffer, piece = 7): Promise<void> {
  for (let i = 0; i < data.length; i += piece) {
    sock.write(data.subarray(i, i + piece));
    if (i % (piece * 50) === 0) await new Promise((r) => setImmediate(r));
  }
}

const ep = (port: number, password?: string) => ({ host: '127.0.0.1', port, db: 0, password });

async function collect(it: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of it) parts.push(c);
  return Buffer.concat(parts);
}

function replica(onPsync: (sock: net.Socket) => Promise<void> | void, opts: { oldServer?: boolean } = {}): Script {
  return async (cmd, sock) => {
    const name = cmd[0].toUpperCase();
    if (name === 'REPLCONF' && cmd[1] === 'rdb-only' && opts.oldServer) sock.write("-ERR Unrecognized REPLCONF option: rdb-only\r\n");
    else if (name === 'REPLCONF') sock.write('+OK\r\n');
    else if (name === 'PSYNC') await onPsync(sock);
    else sock.write(`-ERR unknown command '${cmd[0]}'\r\n`);
  };
}

test('diskless transfer: keep-alives skipped, EOF mark found across packet splits and stripped', async (t) => {
  const rdb = randomBytes(20_000);
  const mark = Buffer.from(randomBytes(20).toString('hex'), 'latin1');
  for (const piece of [1, 7, 39, 41, 4096]) {
    const port = await fakeServer(t, replica(async (sock) => {
      sock.write('+FULLRESYNC 8d1b4cf5b0e1b8e0f6a2a8d6b1c2e3f4a5b6c7d8 0\r\n\n\n');
      await dribble(sock, Buffer.concat([Buffer.from(`\n$EOF:${mark.toString('latin1')}\r\n`), rdb, mark]), piece);
    }, { oldServer: piece === 7 }));
    const client = await RedisClient.connect(ep(port), { what: 'fake' });
    assert.deepEqual(await collect(client.fetchRdb()), rdb, `piece ${piece}`);
  }
});

test('disk-based transfer: exactly $len bytes, the command stream after it is not read', async (t) => {
  const rdb = randomBytes(30_000);
  const port = await fakeServer(t, replica(async (sock) => {
    sock.write('+FULLRESYNC 8d1b4cf5b0e1b8e0f6a2a8d6b1c2e3f4a5b6c7d8 0\r\n');
    for (let i = 0; i < 3; i++) sock.write('\n');
    await dribble(sock, Buffer.concat([Buffer.from(`$${rdb.length}\r\n`), rdb, encodeCommand(['PING'])]), 1000);
  }));
  const client = await RedisClient.connect(ep(port), { what: 'fake' });
  assert.deepEqual(await collect(client.fetchRdb()), rdb);
});

test('a transfer cut short rejects with a retryable SourceError', async (t) => {
  const rdb = randomBytes(10_000);
  const mark = 'm'.repeat(40);
  const cases: Array<[string, Buffer]> = [
    ['disk-based', Buffer.concat([Buffer.from(`$${rdb.length}\r\n`), rdb.subarray(0, 5000)])],
    ['diskless', Buffer.concat([Buffer.from(`$EOF:${mark}\r\n`), rdb, Buffer.from(mark.slice(0, 39))])],
    ['before header', Buffer.from('\n\n')],
  ];
  for (const [name, wire] of cases) {
    const port = await fakeServer(t, replica(async (sock) => {
      sock.write('+FULLRESYNC x 0\r\n');
      await dribble(sock, wire, 999);
      sock.end();
    }));
    const client = await RedisClient.connect(ep(port), { what: 'fake redis' });
    await assert.rejects(collect(client.fetchRdb()), (err: unknown) => {
      assert.ok(err instanceof SourceError, name);
      assert.equal(err.retryable, true);
      assert.match(err.message, /^fake redis: the RDB transfer broke off/);
      return true;
    });
  }
});

test('an error reply to PSYNC is a RedisReplyError naming the command', async (t) => {
  const port = await fakeServer(t, replica((sock) => void sock.write('-NOPERM this user has no permissions to run the \'psync\' command\r\n')));
  const client = await RedisClient.connect(ep(port), { what: 'fake' });
  await assert.rejects(collect(client.fetchRdb()), (err: unknown) => err instanceof RedisReplyError && err.kind === 'NOPERM' && /PSYNC failed/.test(err.message) && /\+psync/.test(err.hint ?? ''));
});

test('AUTH: a wrong password is a SourceError that never quotes it; pipelined commands keep order', async (t) => {
  const secret = 'hunter2-very-secret';
  const port = await fakeServer(t, (cmd, sock) => {
    if (cmd[0] === 'AUTH') sock.write(cmd[1] === secret ? '+OK\r\n' : '-WRONGPASS invalid username-password pair or user is disabled.\r\n');
    else if (cmd[0] === 'ECHO') sock.write(encodeCommand([cmd[1]]).subarray(4));
    else if (cmd[0] === 'INFO') {
      const body = '# Server\r\nredis_version:7.0.15\r\n\r\n# Keyspace\r\ndb0:keys=3,expires=1,avg_ttl=0\r\n';
      sock.write(`$${Buffer.byteLength(body)}\r\n${body}\r\n`);
    }
  });
  await assert.rejects(RedisClient.connect(ep(port, 'wrong-one'), { what: 'fake' }), (err: unknown) => {
    assert.ok(err instanceof SourceError);
    assert.doesNotMatch(`${err.message} ${err.hint} ${JSON.stringify(err.data)}`, /wrong-one|hunter2/);
    assert.match(err.message, /authentication failed \(WRONGPASS\)/);
    return true;
  });
  const client = await RedisClient.connect(ep(port, secret), { what: 'fake' });
  const replies = await Promise.all(['a', 'b', 'c'].map((x) => client.command('ECHO', x)));
  assert.deepEqual(replies, ['a', 'b', 'c'].map((x) => Buffer.from(x)));
  const info = await client.info('everything');
  assert.equal(info.get('redis_version'), '7.0.15');
  assert.equal(info.get('db0'), 'keys=3,expires=1,avg_ttl=0');
  client.close();
});

test('a refused connection is a retryable SourceError', async () => {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const addr = probe.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  await assert.rejects(RedisClient.connect(ep(port), { what: 'nobody' }), (err: unknown) => err instanceof SourceError && err.retryable && /nobody: cannot connect/.test(err.message));
  assert.deepEqual([...parseInfo('# X\r\na:1\r\nb:c:d\r\n').entries()], [['a', '1'], ['b', 'c:d']]);
});

test('aborting the signal mid-transfer rejects with CancelledError and closes the connection', async (t) => {
  let serverSaw: Promise<void> | undefined;
  const port = await fakeServer(t, replica((sock) => {
    sock.write(`+FULLRESYNC x 0\r\n$1000000\r\n${'x'.repeat(1000)}`);
    serverSaw = new Promise((resolve) => sock.once('close', () => resolve()));
  }));
  const ac = new AbortController();
  const client = await RedisClient.connect(ep(port), { what: 'fake', signal: ac.signal });
  const it = client.fetchRdb();
  const first = await it.next();
  assert.equal(first.done, false);
  const pending = it.next();
  ac.abort();
  await assert.rejects(pending, (err: unknown) => err instanceof CancelledError);
  await serverSaw;
});
