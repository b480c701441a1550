/**
 * A throwaway restic REST server: `rclone serve restic` over a temp dir, on a random loopback
 * port. It speaks the REST backend protocol restic's rest: URLs use, so both lifeboat's REST
 * storage and the restic CLI (the oracle) can share one repository.
 *
 * Credentials reach rclone through its flag environment variables (RCLONE_USER, RCLONE_PASS),
 * never argv. restic 0.14 only takes REST credentials inside the URL, so `repoUrl()` embeds
 * them; pass that URL to restic through RESTIC_REPOSITORY (the restic() helper does).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { binaryPath } from './binaries.ts';
import { ManagedProcess } from './managed-process.ts';
import { LOOPBACK, PortInUseError, pollUntil, probe, withFreePort } from './ports.ts';
import { ServerRoot } from './server-root.ts';

export interface RestServer {
  /** restic repository URL without credentials: rest:http://127.0.0.1:PORT/ */
  url: string;
  /** The plain HTTP base URL: http://127.0.0.1:PORT/ */
  httpUrl: string;
  port: number;
  /** The served directory; the repository at url lives directly in it. */
  dir: string;
  user?: string;
  password?: string;
  /** rclone pid (also the process-group id). */
  pid: number;
  /** restic URL of the repository at `path` (default the root), with credentials when set. */
  repoUrl(path?: string): string;
  stop(): Promise<void>;
  kill(): Promise<void>;
}

export interface RestServerOptions {
  appendOnly?: boolean;
  user?: string;
  password?: string;
}

/** Any HTTP status line means the server is up (with auth on, it is a 401). */
async function answersHttp(port: number): Promise<boolean> {
  const reply = await probe(port, 'GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n');
  return reply?.toString('latin1').startsWith('HTTP/1.') ?? false;
}

export async function startRcloneRestServer(opts: RestServerOptions = {}): Promise<RestServer> {
  const rclone = binaryPath('rclone');
  if ((opts.user === undefined) !== (opts.password === undefined)) throw new Error('startRcloneRestServer: give both user and password, or neither');
  const root = await ServerRoot.create('rest');
  let proc: ManagedProcess | undefined;
  try {
    const dir = root.path('data');
    await mkdir(dir);
    // An empty config file of our own: rclone otherwise reads (and may create) ~/.config/rclone.
    const configFile = root.path('rclone.conf');
    await writeFile(configFile, '');
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('RCLONE_')) env[k] = v;
    env.RCLONE_CONFIG = configFile;
    if (opts.user !== undefined && opts.password !== undefined) {
      env.RCLONE_USER = opts.user;
      env.RCLONE_PASS = opts.password;
    }
    const started = await withFreePort(async (port) => {
      const args = ['serve', 'restic', `--addr=${LOOPBACK}:${port}`, '--log-level=NOTICE', ...(opts.appendOnly === true ? ['--append-only'] : []), dir];
      const p = new ManagedProcess(rclone, args, { env, cwd: root.dir, logFile: root.path('rclone.log') });
      proc = p;
      root.adopt(p);
      try {
        await pollUntil(() => answersHttp(port), {
          what: `rclone serve restic on port ${port}`,
          abort: () => (p.exitInfo === undefined ? undefined : `${p.describeExit()}\n${p.logTail()}`),
        });
      } catch (err) {
        await p.stop('SIGKILL', 0);
        if (/address already in use/i.test(p.logTail(50))) throw new PortInUseError(port, p.logTail(3));
        throw err;
      }
      return { port, proc: p };
    });
    const port = started.port;
    const httpUrl = `http://${LOOPBACK}:${port}/`;
    return {
      url: `rest:${httpUrl}`,
      httpUrl,
      port,
      dir,
      user: opts.user,
      password: opts.password,
      pid: started.proc.pid,
      repoUrl(path = '') {
        const auth = opts.user === undefined || opts.password === undefined ? '' : `${encodeURIComponent(opts.user)}:${encodeURIComponent(opts.password)}@`;
        const sub = path.replace(/^\/+|\/+$/g, '');
        return `rest:http://${auth}${LOOPBACK}:${port}/${sub === '' ? '' : `${sub}/`}`;
      },
      stop: () => root.stop(started.proc, 'SIGTERM', 10_000),
      async kill() {
        await started.proc.kill();
      },
    };
  } catch (err) {
    await root.stop(proc, 'SIGKILL', 0);
    throw err;
  }
}
