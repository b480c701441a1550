/**
 * A throwaway OpenSSH server for the ssh transport's tests: Debian's sshd with its own
 * sshd_config, ed25519 host key and authorized_keys in a temp dir, listening on a random
 * 127.0.0.1 port, public-key auth only (`UsePAM no`), logging in as the user running the
 * tests. The client key and a known_hosts line for the server are made beside them, so a test
 * points lifeboat's `ssh:` at `identity_file` and `known_hosts` and nothing of the user's
 * ~/.ssh is read or written.
 *
 * Usage:
 *   const sshd = await startSshd(t);    // undefined: skipped (throws under REQUIRE_SERVERS=1)
 *   sshd.port, sshd.identityFile, sshd.knownHosts, sshd.user
 *   await sshd.stop();
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { findBinary } from './binaries.ts';
import { ManagedProcess } from './managed-process.ts';
import { LOOPBACK, PortInUseError, isPortOpen, pollUntil, withFreePort } from './ports.ts';
import { requireServers } from './require.ts';
import type { Skippable } from './require.ts';
import { ServerRoot } from './server-root.ts';

export interface SshServer {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  /** The client's private key (0600), authorized on the server. */
  readonly identityFile: string;
  /** A known_hosts file holding the server's host key for `[127.0.0.1]:port`. */
  readonly knownHosts: string;
  /** The server's host public key line (`ssh-ed25519 AAAA…`). */
  readonly hostKey: string;
  /** sshd's pid (its process group: one session child per connection joins it until setsid). */
  readonly pid: number;
  readonly dir: string;
  stop(): Promise<void>;
}

export interface SshdOptions {
  /** The session's PATH (sshd's `SetEnv`), e.g. to find tools only "on the remote host". */
  path?: string;
}

/** Installs openssh-server with apt when missing and root; the reason when impossible. */
function ensureSshd(): string | undefined {
  if (findBinary('sshd') !== undefined) return undefined;
  if (process.getuid?.() !== 0) return 'sshd missing and not root; apt-get install -y --no-install-recommends openssh-server';
  const apt = (args: string[]) =>
    spawnSync('apt-get', ['-o', 'DPkg::Lock::Timeout=300', ...args], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }).status === 0;
  const install = ['install', '-y', '--no-install-recommends', 'openssh-server'];
  if (!apt(install) && !(apt(['update']) && apt(install))) return 'apt-get install openssh-server failed';
  return findBinary('sshd') === undefined ? 'openssh-server installed but no sshd found' : undefined;
}

function keygen(file: string, comment: string): void {
  const r = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ssh-keygen failed: ${r.stderr}`);
}

export async function startSshd(t: Skippable, opts: SshdOptions = {}): Promise<SshServer | undefined> {
  const missing = ensureSshd();
  if (missing !== undefined) {
    if (requireServers) throw new Error(`REQUIRE_SERVERS=1 but ${missing}`);
    t.skip(missing);
    return undefined;
  }
  const sshd = findBinary('sshd') as string;
  // sshd's compiled-in privilege separation dir; the package's service would make it.
  if (process.getuid?.() === 0) mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const root = await ServerRoot.create('sshd');
  keygen(root.path('host_ed25519'), 'lifeboat-test-host');
  keygen(root.path('client_ed25519'), 'lifeboat-test-client');
  await writeFile(root.path('authorized_keys'), readFileSync(root.path('client_ed25519.pub')), { mode: 0o600 });
  const hostKey = readFileSync(root.path('host_ed25519.pub'), 'utf8').trim().split(' ').slice(0, 2).join(' ');
  const user = userInfo().username;
  let proc: ManagedProcess | undefined;
  try {
    const port = await withFreePort(async (p) => {
      await writeFile(root.path('sshd_config'), [
        `Port ${p}`, `ListenAddress ${LOOPBACK}`, `HostKey ${root.path('host_ed25519')}`, `PidFile ${root.path('sshd.pid')}`,
        `AuthorizedKeysFile ${root.path('authorized_keys')}`, 'UsePAM no', 'PermitRootLogin prohibit-password',
        'PubkeyAuthentication yes', 'PasswordAuthentication no', 'KbdInteractiveAuthentication no', 'StrictModes no',
        'AllowTcpForwarding no', 'X11Forwarding no', 'PrintMotd no', 'LogLevel VERBOSE',
        ...(opts.path !== undefined ? [`SetEnv PATH=${opts.path}`] : []), '',
      ].join('\n'), { mode: 0o600 });
      // -D: stay in the foreground (our process group); -e: log to the log file.
      const started = new ManagedProcess(sshd, ['-D', '-e', '-f', root.path('sshd_config')], { logFile: root.path('sshd.log') });
      proc = started;
      root.adopt(started);
      try {
        await pollUntil(async () => {
          if (started.exitInfo !== undefined) {
            if (/Address already in use/.test(started.logTail())) throw new PortInUseError(p, started.logTail(3));
            throw new Error(`sshd ${started.describeExit()}:\n${started.logTail()}`);
          }
          return isPortOpen(p);
        }, { timeoutMs: 15_000, what: 'sshd' });
      } catch (err) {
        await started.kill();
        throw err;
      }
      return p;
    });
    const knownHosts = root.path('known_hosts');
    await writeFile(knownHosts, `[${LOOPBACK}]:${port} ${hostKey}\n`, { mode: 0o600 });
    const server = proc as ManagedProcess;
    return {
      host: LOOPBACK, port, user, hostKey, dir: root.dir, pid: server.pid,
      identityFile: root.path('client_ed25519'),
      knownHosts,
      stop: () => root.stop(server, 'SIGTERM', 5_000),
    };
  } catch (err) {
    await root.stop(proc, 'SIGKILL', 1_000);
    throw err;
  }
}
