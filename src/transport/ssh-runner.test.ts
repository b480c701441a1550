import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import type { RunningCommand } from '../core/command-runner.ts';
import { TransportError } from '../core/errors.ts';
import { startSshd } from '../../test/support/sshd.ts';
import type { SshServer } from '../../test/support/sshd.ts';
import { freePort, pollUntil } from '../../test/support/ports.ts';
import { createSshRunner, envBlock, sshArgs } from './ssh-runner.ts';
import type { SshTarget } from './ssh-runner.ts';

const SECRET = `ssh-secret-${randomBytes(6).toString('hex')}`;

/** Runs to the end: stdout bytes and the exit. */
async function finish(cmd: RunningCommand, input?: Buffer) {
  const parts: Buffer[] = [];
  cmd.stdout.on('data', (c: Buffer) => parts.push(c));
  if (input !== undefined) cmd.stdin.end(input);
  else cmd.stdin.end();
  const r = await cmd.done;
  return { ...r, stdout: Buffer.concat(parts) };
}

/** Every process's argv, NUL-joined, as /proc shows it to any user. */
function allCmdlines(): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      out.push(readFileSync(`/proc/${pid}/cmdline`, 'latin1'));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

test('the env block is a length line and export lines, quotes intact', () => {
  const b = envBlock({ A: "it's", B: 'x\ny' }).toString();
  const [len, ...rest] = b.split('\n');
  assert.equal(Number(len), Buffer.byteLength(rest.join('\n')));
  assert.equal(rest.join('\n'), "export A='it'\\''s'\nexport B='x\ny'\n");
  assert.throws(() => envBlock({ 'A;rm': 'x' }), TransportError);
});

test('the ssh arguments check host keys strictly, never prompt, and take the connect timeout', () => {
  const args = sshArgs({ host: 'db1', user: 'backup', port: 2222, knownHosts: '/k', identityFile: '/id', connectTimeoutMs: 2500 }, { command: 'pg_dump', args: ['-d', 'shop'] }, '/tmp/c');
  const opts = args.filter((_, i) => args[i - 1] === '-o');
  for (const o of ['BatchMode=yes', 'StrictHostKeyChecking=yes', 'UserKnownHostsFile=/k', 'IdentitiesOnly=yes', 'ConnectTimeout=3', 'ControlMaster=auto']) assert.ok(opts.includes(o), o);
  assert.ok(args.includes('-T'));
  assert.deepEqual(args.slice(-3, -1), ['--', 'db1']);
  assert.match(args.at(-1) as string, /^exec sh -c '.*' 'lifeboat-ssh' '' 'pg_dump' '-d' 'shop'$/s);
});

describe('ssh runner against a real sshd', () => {
  let sshd: SshServer | undefined;
  let target: SshTarget;
  before(async (t) => {
    sshd = await startSshd(t as never);
    if (sshd) target = { host: sshd.host, port: sshd.port, user: sshd.user, identityFile: sshd.identityFile, knownHosts: sshd.knownHosts };
  });
  after(async () => {
    await sshd?.stop();
  });

  test('stdin after the env block reaches the remote tool byte-exact (binary, 8 MiB)', async (t) => {
    if (!sshd) return t.skip('no sshd');
    const data = randomBytes(8 * 1024 * 1024);
    // Starts with what a sloppy reader would eat: a newline, digits, a quote.
    data.write("\n12\n'", 0, 'latin1');
    const r = await finish(createSshRunner(target).start({ command: 'cat', args: [], env: { PGPASSWORD: SECRET } }), data);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.equals(data), `got ${r.stdout.length} bytes`);
  });

  test('env reaches the remote tool, and no secret is in any argv on either side', async (t) => {
    if (!sshd) return t.skip('no sshd');
    const value = `${SECRET} with 'quotes' and\nnewline`;
    const cmd = createSshRunner(target).start({ command: 'sh', args: ['-c', 'printf "%s\\0" "$LB_SECRET"; cat >/dev/null'], env: { LB_SECRET: value } });
    const parts: Buffer[] = [];
    cmd.stdout.on('data', (c: Buffer) => parts.push(c));
    // The remote tool has it (and now blocks on stdin): every process of both sides is alive.
    await pollUntil(async () => Buffer.concat(parts).includes(0), { timeoutMs: 20_000, what: 'the remote echo' });
    assert.equal(Buffer.concat(parts).toString('utf8').replace(/\0$/, ''), value);
    const leaks = allCmdlines().filter((c) => c.includes(SECRET));
    assert.deepEqual(leaks, []);
    cmd.stdin.end();
    assert.equal((await cmd.done).code, 0);
  });

  test('exit codes and signals of the remote command come back', async (t) => {
    if (!sshd) return t.skip('no sshd');
    const runner = createSshRunner(target);
    assert.equal((await finish(runner.start({ command: 'sh', args: ['-c', 'exit 7'] }))).code, 7);
    const s = await finish(runner.start({ command: 'sh', args: ['-c', 'kill -KILL $$'] }));
    assert.deepEqual([s.code, s.signal], [null, 'SIGKILL']);
    const m = await finish(runner.start({ command: 'lifeboat-no-such-tool', args: [] }));
    assert.equal(m.code, 127);
    assert.match(m.stderr, /lifeboat-no-such-tool is not installed on host .*127\.0\.0\.1/);
  });

  test('the working dir is honoured', async (t) => {
    if (!sshd) return t.skip('no sshd');
    const r = await finish(createSshRunner(target).start({ command: 'pwd', args: [], cwd: sshd.dir }));
    assert.equal(r.stdout.toString().trim(), sshd.dir);
  });

  test('a cancel ends the remote command too', async (t) => {
    if (!sshd) return t.skip('no sshd');
    const ac = new AbortController();
    const cmd = createSshRunner(target).start({ command: 'sh', args: ['-c', 'echo $$; exec sleep 300'], signal: ac.signal });
    let out = '';
    cmd.stdout.setEncoding('utf8');
    cmd.stdout.on('data', (s: string) => {
      out += s;
    });
    await pollUntil(async () => out.includes('\n'), { timeoutMs: 20_000, what: 'the remote pid' });
    const pid = Number(out.trim());
    assert.ok(existsSync(`/proc/${pid}`));
    ac.abort();
    const r = await cmd.done;
    assert.equal(r.signal, 'SIGTERM');
    // The sshd side notices the closed connection and ends the process group.
    await pollUntil(async () => !existsSync(`/proc/${pid}`) || /^[ZX]/.test(readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '')), {
      timeoutMs: 15_000, what: `remote sleep ${pid} to end`,
    });
  });

  test('a dropped connection ends the remote command too (its watchdog)', async (t) => {
    if (!sshd) return t.skip('no sshd');
    const cmd = createSshRunner(target).start({ command: 'sh', args: ['-c', 'echo $$; exec sleep 300'] });
    let out = '';
    cmd.stdout.setEncoding('utf8');
    cmd.stdout.on('data', (s: string) => {
      out += s;
    });
    await pollUntil(async () => out.includes('\n'), { timeoutMs: 20_000, what: 'the remote pid' });
    const pid = Number(out.trim());
    const ppid = (p: number) => Number(readFileSync(`/proc/${p}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')[1]);
    // sleep's parent is the remote script; its parent, the sshd process serving the connection.
    const connection = ppid(ppid(pid));
    process.kill(connection, 'SIGKILL');
    await cmd.done.catch(() => undefined);
    await pollUntil(async () => !existsSync(`/proc/${pid}`) || /^[ZX]/.test(readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '')), {
      timeoutMs: 15_000, what: `remote sleep ${pid} to end`,
    });
  });

  test('stageFile writes a private file on the host and removes it', async (t) => {
    if (!sshd) return t.skip('no sshd');
    const data = randomBytes(300_000);
    const staged = await createSshRunner(target).stageFile?.('archive.dump', (async function* () {
      yield data;
    })());
    assert.ok(staged);
    assert.ok(readFileSync(staged.path).equals(data));
    assert.equal(statSync(staged.path).mode & 0o777, 0o600);
    assert.equal(statSync(staged.path.replace(/\/[^/]+$/, '')).mode & 0o777, 0o700);
    await staged.remove();
    assert.ok(!existsSync(staged.path.replace(/\/[^/]+$/, '')));
  });

  test('an unknown host key is refused with its coded error naming the host', async (t) => {
    if (!sshd) return t.skip('no sshd');
    const empty = `${sshd.dir}/empty_known_hosts`;
    await writeFile(empty, '');
    const err = await createSshRunner({ ...target, knownHosts: empty }).start({ command: 'true', args: [] }).done.then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof TransportError, String(err));
    assert.equal(err.code, 'ssh_host_key_unknown');
    assert.match(err.message, /127\.0\.0\.1/);
    assert.ok(err.message.includes(empty));
  });

  test('a changed host key is refused with its own code', async (t) => {
    if (!sshd) return t.skip('no sshd');
    const other = `${sshd.dir}/other_known_hosts`;
    const fake = readFileSync(`${sshd.identityFile}.pub`, 'utf8').split(' ').slice(0, 2).join(' ');
    await writeFile(other, `[${sshd.host}]:${sshd.port} ${fake}\n`);
    const err = await createSshRunner({ ...target, knownHosts: other }).start({ command: 'true', args: [] }).done.then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof TransportError, String(err));
    assert.equal(err.code, 'ssh_host_key_changed');
  });

  test('a failed connection is a TransportError naming the host, a refused key another', async (t) => {
    if (!sshd) return t.skip('no sshd');
    const port = await freePort();
    const err = await createSshRunner({ ...target, port, connectTimeoutMs: 3000 }).start({ command: 'true', args: [] }).done.then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof TransportError, String(err));
    assert.equal(err.code, 'transport_unreachable');
    assert.ok(err.message.includes(`127.0.0.1:${port}`), err.message);
    const denied = await createSshRunner({ ...target, user: 'nobody' }).start({ command: 'true', args: [] }).done.then(() => undefined, (e: unknown) => e);
    assert.ok(denied instanceof TransportError, String(denied));
    assert.equal(denied.code, 'ssh_auth_failed');
  });

  test('a remote exit 255 after the start is the tool\'s status, not a connection error', async (t) => {
    if (!sshd) return t.skip('no sshd');
    const cmd = createSshRunner(target).start({ command: 'sh', args: ['-c', 'echo out; exit 255'] });
    const [r] = await Promise.all([finish(cmd), once(cmd.stdout, 'end')]);
    assert.equal(r.code, 255);
    assert.equal(r.stdout.toString(), 'out\n');
  });
});
