/**
 * Runs a source's tools on the host its store lives on, through the system OpenSSH client, so
 * pg_dump, mariadb-dump or sqlite3 are that host's own and nothing needs installing here.
 *
 * The client runs with `BatchMode=yes` (no prompt ever) and `StrictHostKeyChecking=yes`: the
 * host key must already be in the user's known_hosts or the configured file; an unknown or
 * changed key is refused with a coded error. Never a TTY (`-T`): data is binary.
 *
 * Secrets never reach an argument list, here or there. The remote command is a fixed `sh`
 * script (REMOTE_SCRIPT) taking the command and its arguments as positional parameters; the
 * environment a source passes (PGPASSWORD, MYSQL_PWD…) travels first on stdin, as a decimal
 * length line and that many bytes of `export NAME='value'` lines, which the script reads
 * byte-exactly (`read` stops at the newline, `head -c` at the count) and evaluates in the
 * shell; the rest of stdin is the tool's, untouched.
 *
 * Without a TTY, sshd neither signals nor kills a command whose client went away: it would
 * run on. So the script announces its pid on stderr (sshd made it a process-group leader:
 * setsid), and a kill here signals that group through a second session before ending the
 * local client. Should the connection itself drop, the script's watchdog sees its parent
 * (the sshd connection) gone and ends the group within a second.
 *
 * The remote shell reports a tool killed by signal N as status 128+N; it comes back as that
 * signal. ssh itself exits 255 when the connection fails: before the script has started
 * (it announces itself on stderr), that is a TransportError naming the host.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { constants, tmpdir } from 'node:os';
import type { CommandRunner, RunSpec, RunningCommand, StagedFile } from '../core/command-runner.ts';
import { TransportError } from '../core/errors.ts';

const STDERR_TAIL = 8 * 1024;
const STARTED = 'lifeboat-ssh: started';
const STARTED_LINE = /lifeboat-ssh: started (\d+)\n/;

/** Where the store lives: `ssh: { host, user, port?, identity_file?, known_hosts? }`. */
export interface SshTarget {
  readonly host: string;
  readonly user?: string;
  readonly port?: number;
  readonly identityFile?: string;
  readonly knownHosts?: string;
  /** ConnectTimeout, in milliseconds (rounded up to seconds). */
  readonly connectTimeoutMs?: number;
}

/**
 * $1: the working dir ('' for the login dir); the rest: command and arguments. The watchdog
 * has its own stdio (/dev/null), so it never holds the channel open.
 */
const REMOTE_SCRIPT = [
  'IFS= read -r n || exit 125',
  'case "$n" in ""|*[!0-9]*) exit 125;; esac',
  '[ "$n" -eq 0 ] || eval "$(head -c "$n")" || exit 125',
  `echo "${STARTED} $$" >&2`,
  '[ -z "$1" ] || cd -- "$1" || exit 126',
  'shift',
  '(while kill -0 "$PPID" 2>/dev/null; do sleep 1; done; kill -TERM 0) </dev/null >/dev/null 2>&1 &',
  'w=$!',
  '"$@"',
  's=$?',
  'kill "$w" 2>/dev/null',
  'exit "$s"',
].join('\n');

/** Single-quoted for a POSIX shell. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The stdin prefix carrying `env`: "<length>\n" then that many bytes of export lines. */
export function envBlock(env: Readonly<Record<string, string>> | undefined): Buffer {
  const lines = Object.entries(env ?? {}).map(([k, v]) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new TransportError('transport_failed', `environment variable name ${JSON.stringify(k)} cannot be passed over ssh`, { hint: 'use a name of letters, digits and underscores' });
    return `export ${k}=${shellQuote(v)}\n`;
  }).join('');
  const body = Buffer.from(lines, 'utf8');
  return Buffer.concat([Buffer.from(`${body.length}\n`), body]);
}

export function describeSshTarget(t: SshTarget): string {
  return `host ${t.user !== undefined ? `${t.user}@` : ''}${t.host}${t.port !== undefined ? `:${t.port}` : ''}`;
}

/** The ssh client's arguments for one command (no secret among them). */
export function sshArgs(t: SshTarget, spec: Pick<RunSpec, 'command' | 'args' | 'cwd'>, controlDir?: string): string[] {
  const remote = ['exec', 'sh', '-c', REMOTE_SCRIPT, 'lifeboat-ssh', spec.cwd ?? '', spec.command, ...spec.args].map((a, i) => (i < 3 ? a : shellQuote(a))).join(' ');
  return [
    '-T', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=yes', '-o', 'LogLevel=ERROR',
    '-o', 'ForwardAgent=no', '-o', 'ForwardX11=no', '-o', 'ClearAllForwardings=yes',
    // One socket per target as configured (its key and known_hosts too): a connection made
    // with one known_hosts file never serves a target that names another.
    ...(controlDir !== undefined ? ['-o', 'ControlMaster=auto', '-o', `ControlPath=${path.join(controlDir, createHash('sha256').update(JSON.stringify(t)).digest('hex').slice(0, 20))}`, '-o', 'ControlPersist=60'] : []),
    ...(t.knownHosts !== undefined ? ['-o', `UserKnownHostsFile=${t.knownHosts}`, '-o', 'GlobalKnownHostsFile=/dev/null'] : []),
    ...(t.identityFile !== undefined ? ['-i', t.identityFile, '-o', 'IdentitiesOnly=yes'] : []),
    ...(t.connectTimeoutMs !== undefined ? ['-o', `ConnectTimeout=${Math.max(1, Math.ceil(t.connectTimeoutMs / 1000))}`] : []),
    ...(t.port !== undefined ? ['-p', String(t.port)] : []),
    ...(t.user !== undefined ? ['-l', t.user] : []),
    '--', t.host, remote,
  ];
}

/** The coded error for an ssh exit 255 before the remote script started. */
export function connectionError(t: SshTarget, stderr: string): TransportError {
  const where = describeSshTarget(t);
  const file = t.knownHosts ?? '~/.ssh/known_hosts';
  const last = stderr.trim().split('\n').filter((l) => l.trim() !== '').at(-1) ?? 'ssh exited with 255';
  const hostArg = t.port !== undefined ? `[${t.host}]:${t.port}` : t.host;
  if (/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key for .* has changed/.test(stderr)) {
    return new TransportError('ssh_host_key_changed', `the ssh host key of ${where} does not match ${file}: if the host was reinstalled, verify its new key and replace the entry (ssh-keygen -R '${hostArg}' -f ${file}); otherwise the connection may be intercepted`, {
      hint: `verify the new host key of ${t.host}, then ssh-keygen -R '${hostArg}' -f ${file} and add the new one`,
    });
  }
  if (/Host key verification failed|No \S+ host key is known/.test(stderr)) {
    return new TransportError('ssh_host_key_unknown', `the ssh host key of ${where} is not in ${file}: verify it and add it (ssh-keyscan${t.port !== undefined ? ` -p ${t.port}` : ''} ${t.host} >> ${file}, after checking the fingerprint), or set ssh.known_hosts`, {
      hint: `add the verified host key of ${t.host} to ${file}`,
    });
  }
  if (/Permission denied/.test(stderr)) {
    return new TransportError('ssh_auth_failed', `ssh login to ${where} was refused (${last}): authorize the key (identity_file or the agent's) in the user's authorized_keys there`, {
      hint: 'check ssh.user and ssh.identity_file, or load the key into ssh-agent',
    });
  }
  return new TransportError('transport_unreachable', `cannot reach ${where} over ssh: ${last}`, {
    hint: `check that ${t.host} is up and its sshd listens${t.port !== undefined ? ` on port ${t.port}` : ''} (ssh -p PORT USER@HOST true)`,
    retryable: true,
  });
}

/** ssh clients still running: ended (and with them their remote commands) when lifeboat exits. */
const live = new Set<ChildProcess>();
let control: string | undefined;

/**
 * The private dir (0700) of this process's ssh control sockets, made on first use: one
 * connection per target, reused by its commands, so a
 * source's many short commands do not each pay a handshake. At exit the clients still
 * running are ended, the masters told to exit and the dir removed.
 */
function controlDir(sshCommand: string): string {
  if (control !== undefined) return control;
  const dir = mkdtempSync(path.join(tmpdir(), 'lifeboat-ssh-'));
  control = dir;
  process.on('exit', () => {
    for (const c of live) c.kill('SIGTERM');
    for (const name of readdirSync(dir)) {
      spawnSync(sshCommand, ['-o', `ControlPath=${path.join(dir, name)}`, '-O', 'exit', 'lifeboat'], { stdio: 'ignore', timeout: 5_000 });
    }
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

const signalNames = new Map<number, NodeJS.Signals>(Object.entries(constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]));

export function createSshRunner(target: SshTarget, sshCommand = 'ssh'): CommandRunner {
  /** Signals a remote command's process group through a second session (no TTY: ssh cannot). */
  const killRemote = (pid: number, sig: NodeJS.Signals): void => {
    const k = startSsh(target, sshCommand, { command: 'kill', args: ['-s', sig.replace(/^SIG/, ''), '--', `-${pid}`] }, () => undefined);
    k.stdin.end();
    k.stdout.resume();
  };
  const start = (spec: RunSpec): RunningCommand => startSsh(target, sshCommand, spec, killRemote);
  return {
    start,
    /** A private dir made by mktemp on the host (0700), the file written through stdin. */
    async stageFile(name, data, signal): Promise<StagedFile> {
      const where = describeSshTarget(target);
      const mk = await collect(start({ command: 'mktemp', args: ['-d', '/tmp/lifeboat-stage.XXXXXXXX'], signal }), '');
      const dir = mk.stdout.trim();
      if (mk.code !== 0 || !dir.startsWith('/tmp/lifeboat-stage.')) {
        throw new TransportError('transport_failed', `cannot make a temp dir on ${where}: ${mk.stderr.trim() || `exit ${mk.code}`}`, { hint: 'the host needs mktemp and a writable /tmp' });
      }
      const remove = async (): Promise<void> => {
        await collect(start({ command: 'rm', args: ['-rf', '--', dir] }), '');
      };
      const file = `${dir}/${name}`;
      try {
        const w = await collect(start({ command: 'sh', args: ['-c', 'umask 077 && cat > "$1"', 'sh', file], signal }), data);
        if (w.code !== 0) throw new TransportError('transport_failed', `cannot write ${file} on ${where}: ${w.stderr.trim() || `exit ${w.code}`}`, { hint: `free space in /tmp on ${target.host}` });
      } catch (err) {
        await remove().catch(() => undefined);
        throw err;
      }
      return { path: file, remove };
    },
  };
}

type Finished = { code: number | null; signal: NodeJS.Signals | null; stderr: string };

/** Feeds `input` to a command and collects its (small) stdout. */
async function collect(cmd: RunningCommand, input: string | AsyncIterable<Uint8Array>): Promise<Finished & { stdout: string }> {
  const parts: Buffer[] = [];
  cmd.stdout.on('data', (c: Buffer) => parts.push(c));
  const fed = (async () => {
    if (typeof input === 'string') {
      cmd.stdin.end(input);
      return;
    }
    for await (const chunk of input) {
      if (!cmd.stdin.write(chunk)) await once(cmd.stdin, 'drain');
    }
    cmd.stdin.end();
  })();
  const [fin] = await Promise.all([cmd.done, fed]);
  return { ...fin, stdout: Buffer.concat(parts).toString('utf8') };
}

function startSsh(target: SshTarget, sshCommand: string, spec: RunSpec, killRemote: (pid: number, sig: NodeJS.Signals) => void): RunningCommand {
  const block = envBlock(spec.env);
  const control = controlDir(sshCommand);
  // ssh's own environment is ours (HOME, SSH_AUTH_SOCK); the source's env goes in the block.
  // Its own process group, as local commands: a terminal's Ctrl-C is lifeboat's to handle.
  const child = spawn(sshCommand, sshArgs(target, spec, control), { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  live.add(child);
  let killedBy: NodeJS.Signals | null = null;
  /** The remote script's pid (its process group), once it has announced itself. */
  let remotePid: number | undefined;
  const kill = (sig: NodeJS.Signals = 'SIGTERM'): void => {
    killedBy ??= sig;
    const running = child.exitCode === null && child.signalCode === null;
    if (running && remotePid !== undefined) killRemote(remotePid, sig);
    if (running) child.kill(sig);
  };
  const onAbort = (): void => kill('SIGTERM');
  if (spec.signal?.aborted) queueMicrotask(onAbort);
  else spec.signal?.addEventListener('abort', onAbort, { once: true });
  // First on the wire: the caller's writes queue behind it.
  child.stdin.write(block);
  child.stdin.on('error', () => undefined);
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s: string) => {
    stderr += s;
    if (remotePid === undefined) {
      const m = STARTED_LINE.exec(stderr);
      if (m !== null) {
        remotePid = Number(m[1]);
        stderr = stderr.replace(STARTED_LINE, '');
        // Killed while connecting: the remote command has just started, end it too.
        if (killedBy !== null) killRemote(remotePid, killedBy);
      }
    }
    stderr = stderr.slice(-STDERR_TAIL);
  });
  const done = new Promise<Finished>((resolve, reject) => {
    const settle = (r: Finished | TransportError): void => {
      live.delete(child);
      spec.signal?.removeEventListener('abort', onAbort);
      if (r instanceof TransportError) reject(r);
      else resolve(r);
    };
    child.on('error', (err) => settle(new TransportError('transport_failed', `cannot run the ssh client (${sshCommand}) for ${describeSshTarget(target)}: ${err.message}`, {
      hint: 'install the OpenSSH client (apt-get install openssh-client)', cause: err,
    })));
    child.on('close', (code, signal) => {
      if (killedBy !== null && code !== 0) return settle({ code: null, signal: killedBy, stderr });
      if (signal !== null) return settle({ code: null, signal, stderr });
      if (remotePid === undefined) {
        if (code === 255) return settle(connectionError(target, stderr));
        return settle(new TransportError('transport_failed', `the remote command on ${describeSshTarget(target)} did not start (exit ${code}): ${stderr.trim() || 'no message'}`, {
          hint: 'the host needs a POSIX sh with head and kill',
        }));
      }
      if (code === 127 && /not found/.test(stderr)) {
        return settle({ code: 127, signal: null, stderr: `${spec.command} is not installed on ${describeSshTarget(target)}: install it there (or use a source option naming its path)\n${stderr}` });
      }
      const sig = code !== null && code > 128 ? signalNames.get(code - 128) : undefined;
      settle(sig !== undefined ? { code: null, signal: sig, stderr } : { code, signal: null, stderr });
    });
  });
  done.catch(() => undefined);
  return { stdout: child.stdout, stdin: child.stdin, done, kill };
}
