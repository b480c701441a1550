/**
 * The starter lifeboat.yml of `lifeboat config init`: a valid file (config check passes once
 * LIFEBOAT_PASSWORD is set) whose comments say what each key does and what to change, with a
 * source for each store that was found answering, and the other source types as commented
 * examples. Pure: what was found comes in, text goes out.
 */

/** A store to write a source for (see app/detect-stores.ts). */
export interface StarterStore {
  kind: 'postgres' | 'mysql' | 'redis';
  host: string;
  port: number;
  needsPassword?: boolean;
  version?: string;
}

const HEADER = `# lifeboat.yml, written by "lifeboat config init" (reference: docs/config.md).
# Next: set LIFEBOAT_PASSWORD, run "lifeboat config check", then "lifeboat init" (creates the
# repository) and "lifeboat backup". Secrets are references, never values: { env: NAME },
# { file: PATH } (chmod 600) or { command: "pass show lifeboat" }.

repository:
  url: local:/var/backups/lifeboat        # or s3:https://s3.example.com/bucket/prefix, rest:http://host:8000/
  password: { env: LIFEBOAT_PASSWORD }    # keep it safe: without it the backups cannot be read
# state_dir: ~/.local/state/lifeboat      # run reports and caches
# concurrency: 2                          # sources backed up at the same time

defaults:                                 # every source has these unless it sets its own
  retention: { keep_daily: 7, keep_weekly: 4, keep_monthly: 6 }   # applied by "lifeboat forget"
  rpo: 24h                                # "lifeboat report" warns when the latest backup is older
  schedule: "@daily"                      # how often the daemon backs each source up
`;

function sourceFor(s: StarterStore): string {
  const where = `${s.host}:${s.port}`;
  switch (s.kind) {
    case 'postgres':
      return `  postgres:                               # found: PostgreSQL on ${where}
    type: postgres
    connection:
      host: ${s.host}
      port: ${s.port}
      user: postgres                      # a role that may read every database (pg_dump)
      # password: { env: PGPASSWORD }     # if the server asks for one
    databases: all                        # or a list: [app, wiki]
`;
    case 'mysql':
      return `  mysql:                                  # found: ${s.version === undefined ? 'MariaDB/MySQL' : `MariaDB/MySQL ${s.version}`} on ${where}
    type: mysql
    connection:
      host: ${s.host}
      port: ${s.port}
      user: root                          # a user that may dump every database
      # password: { env: MYSQL_PASSWORD } # if the server asks for one
    databases: all
`;
    case 'redis':
      return `  redis:                                  # found: Redis on ${where}${s.needsPassword ? ' (asks for a password)' : ''}
    type: redis
    url: redis://${where}
${s.needsPassword ? '    password: { env: REDIS_PASSWORD }\n' : '    # password: { env: REDIS_PASSWORD }   # if the server asks for one\n'}`;
  }
}

const EXAMPLES = `  # More sources: uncomment and adapt (docs/config.md lists every key).
  # files:
  #   type: files
  #   paths: [/srv/app/data, /etc/app]
  #   exclude: ["*.tmp"]
  # app-db:
  #   type: sqlite
  #   path: /srv/app/app.db
  # vault:
  #   type: command
  #   backup_command: vault operator raft snapshot save /dev/stdout
  #   restore_command: vault operator raft snapshot restore /dev/stdin
`;

/** The starter file's text; `probed`: whether stores were looked for (the comment says so). */
export function starterConfig(stores: readonly StarterStore[], probed: boolean): string {
  const note = !probed
    ? '  # "lifeboat config init --detect" adds the PostgreSQL, MariaDB and Redis it finds on 127.0.0.1.\n'
    : stores.length === 0
      ? '  # --detect found no PostgreSQL, MariaDB or Redis answering on their default ports of 127.0.0.1.\n'
      : '';
  return `${HEADER}\nsources:\n${note}${stores.map(sourceFor).join('')}${EXAMPLES}`;
}
