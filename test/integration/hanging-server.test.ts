/**
 * A server that accepts a connection and never answers: every source gives up after its
 * configured timeouts (`timeouts: { connect, idle }`) with an error naming the source and its
 * host, the stack backup ends by itself and leaves no lock behind. PostgreSQL through libpq's
 * connect timeout, MySQL through the client's --connect-timeout, Redis through its socket
 * timeouts, a command source through the idle watchdog on its output.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { lifeboat, spawnLifeboat } from '../support/lifeboat-cli.ts';
import { missingBinaries } from '../support/require.ts';
import { tempDir } from '../support/tmp.ts';
import type { TempDir } from '../support/tmp.ts';

const PASSWORD = 'hanging-server-pw';
/** Far above the timeouts configured below: reaching it means a source hung. */
const GIVE_UP_MS = 90_000;

describe('a server that accepts and never answers', { skip: missingBinaries('psql', 'pg_dump', 'mariadb', 'mariadb-dump') }, () => {
  let tmp: TempDir;
  let server: net.Server;
  const sockets = new Set<net.Socket>();
  let port = 0;

  before(async () => {
    tmp = await tempDir('hanging');
    server = net.createServer((s) => {
      sockets.add(s);
      s.on('data', () => undefined); // read everything, answer nothing
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as net.AddressInfo).port;
    await writeFile(path.join(tmp.path, 'lifeboat.yml'), `
repository:
  url: ./repo
  password: { env: LB_PW }
state_dir: ./state
concurrency: 4
defaults:
  timeouts: { connect: 1s, idle: 1s }
sources:
  pg:
    type: postgres
    connection: { host: 127.0.0.1, port: ${port}, user: postgres }
    databases: [shop]
  my:
    type: mysql
    connection: { host: 127.0.0.1, port: ${port}, user: root }
    databases: [crm]
  cache:
    type: redis
    url: redis://127.0.0.1:${port}
  stream:
    type: command
    backup_command: printf started; exec sleep 60
    restore_command: cat > /dev/null
`);
    const init = await lifeboat(['-c', path.join(tmp.path, 'lifeboat.yml'), 'init'], { env: { LB_PW: PASSWORD }, cwd: tmp.path });
    assert.equal(init.code, 0, init.stderr);
  });
  after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
    await tmp.cleanup();
  });

  test('every source fails with its timeout, naming itself and the host; the run ends and unlocks', async () => {
    const child = spawnLifeboat(['-c', path.join(tmp.path, 'lifeboat.yml'), 'backup'], { env: { LB_PW: PASSWORD }, cwd: tmp.path });
    let out = '';
    child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr?.on('data', (b: Buffer) => (out += b.toString()));
    const hung = setTimeout(() => child.kill('SIGKILL'), GIVE_UP_MS);
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
    clearTimeout(hung);
    assert.equal(signal, null, `the backup hung and was killed:\n${out}`);
    assert.notEqual(code, 0, out);
    const host = `127.0.0.1:${port}`;
    assert.match(out, new RegExp(`postgres source "pg" \\(postgres@${host}\\).*timeout expired`), out);
    assert.match(out, new RegExp(`mysql source "my".*${host}[^\\n]*initial communication packet.*check that the server is running`), out);
    assert.match(out, new RegExp(`redis source cache \\(redis://${host}[^)]*\\).*no reply for 1 s`), out);
    assert.match(out, /source stream: .*no output for 1 s \(timeouts\.idle\)/s, out);
    assert.deepEqual(await readdir(path.join(tmp.path, 'repo', 'locks')), []);
  });

  test('config check accepts timeouts and refuses a bad duration', async () => {
    const bad = path.join(tmp.path, 'bad.yml');
    await writeFile(bad, `
repository:
  url: ./repo
  password: { env: LB_PW }
sources:
  cache:
    type: redis
    url: redis://127.0.0.1:${port}
    timeouts: { connect: soon }
`);
    const r = await lifeboat(['-c', bad, 'config', 'check'], { env: { LB_PW: PASSWORD }, cwd: tmp.path });
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stdout + r.stderr, /timeouts\.connect/);
  });
});
