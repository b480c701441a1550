/**
 * The app.ini of a drill's scratch Gitea (pure): the dump's own app.ini, with everything that
 * could reach the live instance or the outside pointed at the scratch dir or turned off. A
 * scratch Gitea must write nowhere but its dir: not into the live data, repositories or
 * database, not into ~git/.ssh/authorized_keys, a shared Redis, MinIO bucket or search cluster,
 * and send no mail or webhook.
 */
import type { GiteaLayout } from './gitea-dump.ts';

type Ini = Map<string, Map<string, string>>;

/** Sections that name a storage (Gitea's storage settings); their remote keys are dropped. */
const STORAGE_SECTIONS = ['storage', 'attachment', 'lfs', 'avatar', 'repo-avatar', 'repo-archive', 'packages', 'actions_log', 'actions_artifacts', 'picture'];
const STORAGE_KEYS = /^(STORAGE_TYPE|PATH|MINIO_.*|AZURE_BLOB_.*|SERVE_DIRECT|AVATAR_UPLOAD_PATH|REPOSITORY_AVATAR_UPLOAD_PATH)$/;

/** Values as Gitea reads them → text; keys keep their section. */
export function formatIni(ini: Ini): string {
  const lines: string[] = [];
  for (const [section, keys] of ini) {
    if (section !== '') lines.push(`[${section}]`);
    for (const [k, v] of keys) lines.push(`${k} = ${/^\s|\s$|[;#]/.test(v) ? `\`${v}\`` : v}`);
    lines.push('');
  }
  return lines.join('\n');
}

/**
 * The dump's app.ini for a scratch Gitea in `dir` (as Gitea sees it) on 127.0.0.1:`port`.
 * Paths under the old work, data or repository dirs move under `dir`; remote stores, caches,
 * queues, indexers, mail, webhooks, SSH, cron and federation are switched to local or off.
 */
export function drillIni(ini: Ini, old: GiteaLayout, dir: string, port: number): Ini {
  const out: Ini = new Map();
  const roots = [old.repoRoot, old.dataPath, old.workPath].sort((a, b) => b.length - a.length);
  const moved = (v: string): string => {
    for (const r of roots) {
      if (v === r || v.startsWith(`${r}/`)) {
        const rel = v.slice(r.length);
        return r === old.repoRoot ? `${dir}/repositories${rel}` : r === old.dataPath ? `${dir}/data${rel}` : `${dir}${rel}`;
      }
    }
    return v;
  };
  for (const [section, keys] of ini) {
    if (section.startsWith('storage.') || section.startsWith('queue.')) continue;
    const copy = new Map<string, string>();
    for (const [k, v] of keys) {
      if (STORAGE_SECTIONS.includes(section) && STORAGE_KEYS.test(k)) continue;
      copy.set(k, moved(v));
    }
    out.set(section, copy);
  }
  const set = (section: string, values: Record<string, string>): void => {
    const s = out.get(section) ?? new Map<string, string>();
    for (const [k, v] of Object.entries(values)) s.set(k, v);
    out.set(section, s);
  };
  set('', { WORK_PATH: dir });
  set('server', {
    PROTOCOL: 'http', HTTP_ADDR: '127.0.0.1', HTTP_PORT: String(port), ROOT_URL: `http://127.0.0.1:${port}/`, LOCAL_ROOT_URL: `http://127.0.0.1:${port}/`,
    APP_DATA_PATH: `${dir}/data`, DISABLE_SSH: 'true', START_SSH_SERVER: 'false', LFS_START_SERVER: 'false', OFFLINE_MODE: 'true',
    // Else Gitea rewrites the live ~git/.ssh/authorized_keys at start, SSH disabled or not.
    SSH_ROOT_PATH: `${dir}/ssh`, SSH_CREATE_AUTHORIZED_KEYS_FILE: 'false', SSH_CREATE_AUTHORIZED_PRINCIPALS_FILE: 'false',
  });
  set('database', { DB_TYPE: 'sqlite3', PATH: `${dir}/data/gitea.db`, HOST: '', NAME: '', USER: '', PASSWD: '' });
  set('repository', { ROOT: `${dir}/repositories` });
  set('log', { ROOT_PATH: `${dir}/log`, MODE: 'console', LEVEL: 'warn' });
  set('storage', { STORAGE_TYPE: 'local' });
  set('cache', { ADAPTER: 'memory', HOST: '' });
  set('session', { PROVIDER: 'memory', PROVIDER_CONFIG: '' });
  set('queue', { TYPE: 'level', CONN_STR: '', DATADIR: `${dir}/data/queues` });
  set('indexer', { ISSUE_INDEXER_TYPE: 'db', ISSUE_INDEXER_CONN_STR: '', REPO_INDEXER_ENABLED: 'false' });
  out.set('mailer', new Map([['ENABLED', 'false']]));
  set('webhook', { ALLOWED_HOST_LIST: 'lifeboat-drill.invalid' });
  set('cron', { ENABLED: 'false', RUN_AT_START: 'false' });
  set('federation', { ENABLED: 'false' });
  set('actions', { ENABLED: 'false' });
  set('migrations', { ALLOW_LOCALNETWORKS: 'false' });
  return out;
}
