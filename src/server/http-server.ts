/**
 * The daemon's HTTP face (node:http, no framework): `/metrics` in the Prometheus text format
 * and a versioned JSON API under `/api/v1/`. Every JSON answer carries `"api_version": 1`;
 * fields are only ever added within a version.
 *
 *   GET  /, /app.js, /style.css          the dashboard (src/dashboard)
 *   GET  /metrics
 *   GET  /api/v1/status                  daemon, repository and watchdog conditions
 *   GET  /api/v1/sources                 the per-source overview
 *   GET  /api/v1/sources/:name/snapshots  its snapshots as of the last repository probe
 *   GET  /api/v1/sources/:name/restore-plan?snapshot=ID  what restoring it would do (dry run)
 *   GET  /api/v1/jobs                    every job: schedule, next run, running, paused
 *   GET  /api/v1/runs?limit&job&kind&before
 *   GET  /api/v1/runs/:id                a run, with its log lines while it runs
 *   GET  /api/v1/alerts                  the last alerts sent
 *   GET  /api/v1/notifications           channels: name, type, events (never a URL or secret)
 *   POST /api/v1/notifications/test      a test alert to every channel; each one's result
 *   GET  /api/v1/events                  Server-Sent Events: run_started, run_log, run_progress, run_finished, alert
 *   POST /api/v1/sources/:name/backup    back up now (202, or 409 when already running)
 *   POST /api/v1/jobs/:id/run|pause|resume
 *   POST /api/v1/jobs/pause|resume       every job at once
 *   POST /api/v1/restores                {sources, snapshot, confirm}: a guarded restore (202)
 *
 * Bound to 127.0.0.1 by default; auth.ts says who may do what.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { makeAlert, notify } from '../daemon/notify/notifier.ts';
import { renderPrometheus } from '../daemon/prometheus-text.ts';
import type { Daemon } from '../daemon/daemon.ts';
import type { JobKind } from '../daemon/scheduler.ts';
import { VERSION } from '../version.ts';
import { authorize, isLoopbackHost } from './auth.ts';
import { DASHBOARD_HEADERS, dashboardAsset } from './dashboard-assets.ts';
import { errorBody, HttpError, httpStatusFor } from './error-handler.ts';

export const API_VERSION = 1;

/** What the server needs of the daemon. */
export type DaemonApi = Pick<Daemon, 'channels' | 'snapshots' | 'restorePreview' | 'sources' | 'jobs' | 'runs' | 'run' | 'conditions' | 'alerts' | 'metrics' | 'runNow' | 'pause' | 'resume' | 'hasJob' | 'subscribe' | 'requestRestore' | 'allPaused'>;

export interface ServerOptions {
  /** host:port; default 127.0.0.1:9876. */
  readonly listen: string;
  readonly token?: string;
  readonly log?: { warn(msg: string): void };
}

export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:]+\]|[^:\s]+):(\d{1,5})$/.exec(listen);
  const port = Number(m?.[2]);
  if (!m || port > 65535) throw new HttpError(400, 'usage', `--listen ${listen}: expected host:port, e.g. 127.0.0.1:9876`);
  return { host: (m[1] as string).replace(/^\[|\]$/g, ''), port };
}

export interface RunningServer {
  readonly url: string;
  close(): Promise<void>;
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(typeof body === 'object' && body !== null && !Array.isArray(body) ? { api_version: API_VERSION, ...body } : body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
  res.end(text);
}

const KINDS = new Set<JobKind>(['backup', 'copy', 'prune', 'verify', 'check', 'drill', 'restore']);

export async function startServer(api: DaemonApi, opts: ServerOptions): Promise<RunningServer> {
  const { host, port } = parseListen(opts.listen);
  const loopback = isLoopbackHost(host);
  if (!loopback && opts.token === undefined) {
    throw new HttpError(400, 'config', `refusing to listen on ${opts.listen} without a token: anyone who can reach it could start backups and read the run history`, 'set daemon.token: { env: LIFEBOAT_DAEMON_TOKEN } in lifeboat.yml (or listen on 127.0.0.1 behind a reverse proxy)');
  }
  const hosts = new Set<string>();
  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      const status = httpStatusFor(err);
      if (status >= 500) opts.log?.warn(`HTTP ${req.method} ${req.url?.split('?')[0]}: ${errorBody(err).error.message}`);
      if (!res.headersSent) send(res, status, errorBody(err));
      else res.end();
    });
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://daemon');
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const method = req.method ?? 'GET';
    const mutating = method !== 'GET' && method !== 'HEAD';
    const asset = mutating ? undefined : dashboardAsset(url.pathname);
    if (asset) {
      // The pages hold no data (the API they call checks the token): only the Host check applies.
      authorize(req, { loopback, hosts }, false);
      res.writeHead(200, { 'content-type': asset.type, ...DASHBOARD_HEADERS });
      res.end(method === 'HEAD' ? undefined : asset.body);
      return;
    }
    authorize(req, { token: opts.token, loopback, hosts }, mutating);
    // Only a restore reads its body; any other is read and dropped, within reason.
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > 64 * 1024) throw new HttpError(413, 'too_large', 'request body too large');
      chunks.push(chunk as Buffer);
    }
    if (method === 'GET' && url.pathname === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'cache-control': 'no-store' });
      res.end(renderPrometheus(api.metrics()));
      return;
    }
    if (parts[0] !== 'api' || parts[1] !== 'v1') throw new HttpError(404, 'not_found', `no such path: ${url.pathname}`, 'the API is under /api/v1/ and metrics at /metrics');
    const [, , what, id, action] = parts;
    if (method === 'GET') {
      switch (what) {
        case 'status':
          if (id === undefined) return send(res, 200, { version: VERSION, conditions: api.conditions(), jobs: api.jobs().length, all_paused: api.allPaused(), restore_allowed: api.hasJob('restore') });
          break;
        case 'sources': {
          if (id === undefined) return send(res, 200, { sources: api.sources() });
          if (parts.length !== 5) break;
          if (!api.hasJob(`backup:${id}`)) throw new HttpError(404, 'not_found', `no source named "${id}"`, 'GET /api/v1/sources lists them');
          if (action === 'snapshots') return send(res, 200, api.snapshots(id));
          if (action === 'restore-plan') {
            const snapshot = url.searchParams.get('snapshot') ?? '';
            if (!/^[0-9a-f]{4,64}$/.test(snapshot)) throw new HttpError(400, 'usage', 'restore-plan takes ?snapshot=<ID> (at least 4 hex digits)');
            return send(res, 200, { plan: await api.restorePreview(id, snapshot) });
          }
          break;
        }
        case 'jobs':
          if (id === undefined) {
            return send(res, 200, {
              all_paused: api.allPaused(),
              jobs: api.jobs().map((j) => ({ id: j.job.id, kind: j.job.kind, target: j.job.target ?? null, exclusive: j.job.exclusive, next_run: j.nextRun?.toISOString() ?? null, running: j.running, queued: j.queued, paused: j.paused, retry_at: j.retryAt?.toISOString() ?? null })),
            });
          }
          break;
        case 'alerts':
          if (id === undefined) return send(res, 200, { alerts: api.alerts() });
          break;
        case 'notifications':
          // Names, types and events only: a channel's URL, token or password is never shown.
          if (id === undefined) return send(res, 200, { notifications: api.channels.map((c) => ({ name: c.name, type: c.type, on: [...c.events], timeout_ms: c.timeoutMs })) });
          break;
        case 'events':
          if (id === undefined) return streamEvents(req, res);
          break;
        case 'runs': {
          if (id === undefined) {
            const num = (k: string): number | undefined => (url.searchParams.has(k) ? Number(url.searchParams.get(k)) : undefined);
            const kind = url.searchParams.get('kind') ?? undefined;
            if (kind !== undefined && !KINDS.has(kind as JobKind)) throw new HttpError(400, 'usage', `kind=${kind}: expected one of ${[...KINDS].join(', ')}`);
            const runs = api.runs({ limit: num('limit'), before: num('before'), job: url.searchParams.get('job') ?? undefined, kind: kind as JobKind | undefined });
            return send(res, 200, { runs: runs.map(({ report: _report, ...r }) => r) });
          }
          const run = /^\d+$/.test(id) ? api.run(Number(id)) : undefined;
          if (!run) throw new HttpError(404, 'not_found', `no run ${id}`);
          return send(res, 200, { run });
        }
      }
    }
    if (method === 'POST') {
      if (what === 'sources' && id !== undefined && action === 'backup' && parts.length === 5) {
        const job = `backup:${id}`;
        if (!api.hasJob(job)) throw new HttpError(404, 'not_found', `no source named "${id}"`, 'GET /api/v1/sources lists them');
        return accepted(res, job, api.runNow(job));
      }
      if (what === 'restores' && parts.length === 3) {
        let body: unknown;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
        } catch {
          throw new HttpError(400, 'usage', 'the request body is not JSON', 'send {"sources": ["db"], "snapshot": "<id>", "confirm": "db <short id>"}');
        }
        return send(res, 202, { ...api.requestRestore(body), accepted: true });
      }
      if (what === 'notifications' && id === 'test' && parts.length === 4) {
        if (api.channels.length === 0) throw new HttpError(404, 'not_found', 'lifeboat.yml has no notifications', 'add notifications: [{ type: webhook, url: … }] (docs/daemon.md)');
        const alert = makeAlert({ event: 'failure', subject: 'test', title: 'test notification from lifeboat', message: 'If you can read this, lifeboat can reach this channel.' });
        return send(res, 200, { results: await notify(api.channels, alert, { force: true }) });
      }
      if (what === 'jobs' && (id === 'pause' || id === 'resume') && parts.length === 4) {
        api[id]('*');
        return send(res, 200, { all_paused: id === 'pause' });
      }
      if (what === 'jobs' && id !== undefined && parts.length === 5) {
        if (!api.hasJob(id)) throw new HttpError(404, 'not_found', `no job named "${id}"`, 'GET /api/v1/jobs lists them');
        if (action === 'run') return accepted(res, id, api.runNow(id));
        if (action === 'pause' || action === 'resume') {
          api[action](id);
          return send(res, 200, { job: id, paused: action === 'pause' });
        }
      }
    }
    throw new HttpError(mutating ? 405 : 404, 'not_found', `no such endpoint: ${method} ${url.pathname}`);
  }

  /** Server-Sent Events until the client goes; a comment every 15s keeps proxies from closing it. */
  function streamEvents(req: http.IncomingMessage, res: http.ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no' });
    res.write(`retry: 2000\n\n`);
    const unsubscribe = api.subscribe((e) => res.write(`event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`));
    const beat = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
    req.socket.on('close', () => {
      clearInterval(beat);
      unsubscribe();
    });
  }

  function accepted(res: http.ServerResponse, job: string, ok: boolean): void {
    if (!ok) throw new HttpError(409, 'already_running', `${job} is already running or waiting to`, 'watch it in GET /api/v1/jobs');
    send(res, 202, { job, accepted: true });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const shown = addr.family === 'IPv6' ? `[${addr.address}]:${addr.port}` : `${addr.address}:${addr.port}`;
  hosts.add(shown);
  if (loopback) for (const h of ['127.0.0.1', 'localhost', '[::1]']) hosts.add(`${h}:${addr.port}`);
  return {
    url: `http://${shown}`,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
