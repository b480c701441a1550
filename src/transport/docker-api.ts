/**
 * The few Docker Engine API calls lifeboat needs, over the engine's unix socket with
 * node:http: container lookup, exec create/start/inspect. Podman's Docker-compatible socket
 * answers the same calls. No client library: these are four endpoints, and the exec stream's
 * framing (below) is eight bytes of header.
 *
 * `DOCKER_HOST` is honoured when it is `unix://PATH`; the default is /var/run/docker.sock.
 * Exec never uses a TTY, so stdout and stderr arrive multiplexed and a dump's bytes are
 * never rewritten by a terminal layer.
 */
import type { Socket } from 'node:net';
import { TransportError } from '../core/errors.ts';

/**
 * node:http on first use: an ES import of it evaluates every export, and its WebSocket getter
 * loads Node's bundled undici, about 50 ms of CPU at the start of every command that opens the
 * stack, whether or not a source runs in a container.
 */
const http = (): typeof import('node:http') => process.getBuiltinModule('node:http');

/** The API version asked for: Docker 20.10 (1.41) and Podman's compatible API both serve it. */
const API = '/v1.41';

export function dockerSocketPath(env: NodeJS.ProcessEnv): string {
  const host = env.DOCKER_HOST;
  if (host === undefined || host === '') return '/var/run/docker.sock';
  if (host.startsWith('unix://')) return host.slice('unix://'.length);
  throw new TransportError('transport_unreachable', `DOCKER_HOST=${host} is not a unix socket`, {
    hint: 'set DOCKER_HOST to unix:///path/to/docker.sock (tcp and ssh engines are not supported; use the ssh transport)',
  });
}

export interface ContainerSummary {
  readonly Id: string;
  readonly Names: readonly string[];
  readonly State: string;
  readonly Labels: Readonly<Record<string, string>>;
}

export interface ExecOptions {
  readonly cmd: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  readonly workingDir?: string;
}

export class DockerApi {
  readonly socketPath: string;

  constructor(socketPath: string) {
    this.socketPath = socketPath;
  }

  /** One JSON request; the status and parsed body (undefined when empty). */
  async request(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = http().request(
        { socketPath: this.socketPath, method, path: API + path, headers: payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } },
        (res) => {
          const parts: Buffer[] = [];
          res.on('data', (c: Buffer) => parts.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(parts).toString('utf8');
            let parsed: unknown = text;
            try {
              parsed = text === '' ? undefined : JSON.parse(text);
            } catch {
              // a plain-text error body
            }
            resolve({ status: res.statusCode ?? 0, body: parsed });
          });
        },
      );
      req.on('error', (err) => reject(this.#unreachable(err)));
      req.end(payload);
    });
  }

  #unreachable(err: unknown): TransportError {
    const code = (err as NodeJS.ErrnoException).code;
    const hint = code === 'EACCES'
      ? `give lifeboat access to ${this.socketPath}: start it as a user in the docker group, or as root`
      : `start the container engine, or point DOCKER_HOST at its socket (unix://…)`;
    return new TransportError('transport_unreachable', `cannot reach the container engine at ${this.socketPath} (${code ?? (err as Error).message}): ${hint}`, { hint, cause: err });
  }

  /** Containers (running or not) whose labels include every `key=value` of `labels`. */
  async listByLabels(labels: readonly string[]): Promise<ContainerSummary[]> {
    const filters = encodeURIComponent(JSON.stringify({ label: labels }));
    const r = await this.request('GET', `/containers/json?all=1&filters=${filters}`);
    if (r.status !== 200) throw apiError(r, 'list containers');
    return r.body as ContainerSummary[];
  }

  /** Containers (running or not) that mount volume `name`. */
  async listByVolume(name: string): Promise<Array<ContainerSummary & { Image: string }>> {
    const filters = encodeURIComponent(JSON.stringify({ volume: [name] }));
    const r = await this.request('GET', `/containers/json?all=1&filters=${filters}`);
    if (r.status !== 200) throw apiError(r, `list the containers of volume ${name}`);
    return r.body as Array<ContainerSummary & { Image: string }>;
  }

  /** Whether volume `name` exists; a missing one is a coded error naming it. */
  async volumeExists(name: string): Promise<void> {
    const r = await this.request('GET', `/volumes/${encodeURIComponent(name)}`);
    if (r.status === 404) {
      throw new TransportError('volume_not_found', `volume ${name} does not exist: check the name (docker volume ls) and the volume: key in lifeboat.yml`, { hint: 'check the name with `docker volume ls`' });
    }
    if (r.status !== 200) throw apiError(r, `inspect volume ${name}`);
  }

  /** Creates a container (POST /containers/create); a missing image is a coded error naming it. */
  async create(name: string, body: Record<string, unknown>): Promise<string> {
    const r = await this.request('POST', `/containers/create?name=${encodeURIComponent(name)}`, body);
    if (r.status === 404) {
      throw new TransportError('image_not_found', `image ${String(body.Image)} is not on the engine: pull or build it, or set helper_image to one that is`, { hint: `docker pull ${String(body.Image)}` });
    }
    if (r.status !== 201) throw apiError(r, `create container ${name}`);
    return (r.body as { Id: string }).Id;
  }

  /** Removes a container, running or not (its anonymous volumes too; named volumes stay). */
  async remove(id: string): Promise<void> {
    const r = await this.request('DELETE', `/containers/${encodeURIComponent(id)}?force=1&v=1`);
    if (r.status !== 204 && r.status !== 404) throw apiError(r, `remove container ${id}`);
  }

  /** A container's id and state; a NotFound container is a coded error naming it. */
  async inspect(nameOrId: string): Promise<{ id: string; running: boolean; pid: number }> {
    const r = await this.request('GET', `/containers/${encodeURIComponent(nameOrId)}/json`);
    if (r.status === 404) {
      throw new TransportError('container_not_found', `container ${nameOrId} does not exist: check the name (docker ps -a) and the container: key in lifeboat.yml`, { hint: 'check the name with `docker ps -a` and the `container:` key in lifeboat.yml' });
    }
    if (r.status !== 200) throw apiError(r, `inspect container ${nameOrId}`);
    const b = r.body as { Id: string; State: { Running: boolean; Pid?: number } };
    return { id: b.Id, running: b.State.Running, pid: b.State.Pid ?? 0 };
  }

  /** Stops a running container (SIGTERM, then SIGKILL after `timeoutS`); one already stopped is fine. */
  async stop(id: string, timeoutS: number): Promise<void> {
    const r = await this.request('POST', `/containers/${encodeURIComponent(id)}/stop?t=${timeoutS}`);
    if (r.status !== 204 && r.status !== 304) throw apiError(r, `stop container ${id}`);
  }

  async start(id: string): Promise<void> {
    const r = await this.request('POST', `/containers/${encodeURIComponent(id)}/start`);
    if (r.status !== 204 && r.status !== 304) throw apiError(r, `start container ${id}`);
  }

  /**
   * Extracts `tar` into directory `dir` of a container, running or stopped (PUT archive;
   * without copyUIDGID the entries keep the uid and gid written in them).
   */
  async putArchive(id: string, dir: string, tar: Uint8Array): Promise<void> {
    const r = await new Promise<{ status: number; body: unknown }>((resolve, reject) => {
      const req = http().request({
        socketPath: this.socketPath, method: 'PUT', path: `${API}/containers/${encodeURIComponent(id)}/archive?path=${encodeURIComponent(dir)}`,
        headers: { 'content-type': 'application/x-tar', 'content-length': tar.length },
      }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(parts).toString('utf8');
          let body: unknown = text;
          try {
            body = text === '' ? undefined : JSON.parse(text);
          } catch {
            // a plain-text error body
          }
          resolve({ status: res.statusCode ?? 0, body });
        });
      });
      req.on('error', (err) => reject(this.#unreachable(err)));
      req.end(tar);
    });
    if (r.status === 404) {
      throw new TransportError('transport_failed', `directory ${dir} does not exist in container ${id.slice(0, 12)}: check the path as seen inside the container`, { hint: 'check the path as seen inside the container' });
    }
    if (r.status !== 200) throw apiError(r, `put files into ${dir} of container ${id.slice(0, 12)}`);
  }

  async execCreate(container: string, o: ExecOptions): Promise<string> {
    const r = await this.request('POST', `/containers/${encodeURIComponent(container)}/exec`, {
      AttachStdin: true, AttachStdout: true, AttachStderr: true, Tty: false,
      Cmd: o.cmd,
      // Secrets (PGPASSWORD…) travel in the request body, never in any process's argv.
      Env: Object.entries(o.env ?? {}).map(([k, v]) => `${k}=${v}`),
      ...(o.workingDir === undefined ? {} : { WorkingDir: o.workingDir }),
    });
    if (r.status === 409) {
      throw new TransportError('container_not_running', `container ${container} is not running: start it (docker start ${container}) and try again`, { hint: `docker start ${container}` });
    }
    if (r.status === 404) {
      throw new TransportError('container_not_found', `container ${container} does not exist: check the name (docker ps -a) and the container: key in lifeboat.yml`, { hint: 'check the name with `docker ps -a` and the `container:` key in lifeboat.yml' });
    }
    if (r.status !== 201) throw apiError(r, `exec in container ${container}`);
    return (r.body as { Id: string }).Id;
  }

  /**
   * Starts an exec and hands over the raw connection (HTTP upgraded to a plain stream): what
   * is written is the command's stdin, what is read is the multiplexed stdout/stderr.
   */
  async execStart(execId: string): Promise<Socket> {
    const payload = JSON.stringify({ Detach: false, Tty: false });
    return new Promise((resolve, reject) => {
      const req = http().request({
        socketPath: this.socketPath, method: 'POST', path: `${API}/exec/${execId}/start`,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), connection: 'Upgrade', upgrade: 'tcp' },
      });
      req.on('upgrade', (_res, socket, head) => {
        if (head.length > 0) socket.unshift(head);
        resolve(socket);
      });
      req.on('response', (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => reject(apiError({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString('utf8') }, 'start exec')));
      });
      req.on('error', (err) => reject(this.#unreachable(err)));
      req.end(payload);
    });
  }

  async execInspect(execId: string): Promise<{ running: boolean; exitCode: number | null; pid: number }> {
    const r = await this.request('GET', `/exec/${execId}/json`);
    if (r.status !== 200) throw apiError(r, 'inspect exec');
    const b = r.body as { Running: boolean; ExitCode: number | null; Pid: number };
    return { running: b.Running, exitCode: b.ExitCode, pid: b.Pid };
  }
}

function apiError(r: { status: number; body: unknown }, what: string): TransportError {
  const msg = typeof r.body === 'object' && r.body !== null && 'message' in r.body ? String((r.body as { message: unknown }).message) : String(r.body ?? '').trim();
  return new TransportError('transport_failed', `container engine: ${what} failed (HTTP ${r.status}): ${msg}`, {
    hint: 'see the engine\'s log; check the container and the engine\'s version',
  });
}
