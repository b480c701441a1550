/**
 * Binaries the integration tests run: where to find them and which Debian package ships each.
 *
 * Server binaries often live outside PATH on Debian (/usr/sbin for mariadbd, the versioned
 * /usr/lib/postgresql/N/bin for initdb and postgres), so lookup walks PATH and then those
 * directories. PostgreSQL 15 is preferred when several major versions are installed, because
 * the tests and their expected dump formats are written against it.
 */
import { accessSync, constants, readdirSync, realpathSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';

/** The PostgreSQL major version the tests are written against. */
export const PREFERRED_POSTGRES_MAJOR = 15;

/** Binary name -> Debian package that installs it (the package an error message names). */
export const BINARY_PACKAGES: Readonly<Record<string, string>> = {
  initdb: `postgresql-${PREFERRED_POSTGRES_MAJOR}`,
  pg_ctl: `postgresql-${PREFERRED_POSTGRES_MAJOR}`,
  postgres: `postgresql-${PREFERRED_POSTGRES_MAJOR}`,
  pg_dump: `postgresql-client-${PREFERRED_POSTGRES_MAJOR}`,
  pg_restore: `postgresql-client-${PREFERRED_POSTGRES_MAJOR}`,
  psql: `postgresql-client-${PREFERRED_POSTGRES_MAJOR}`,
  pg_isready: `postgresql-client-${PREFERRED_POSTGRES_MAJOR}`,
  mariadbd: 'mariadb-server',
  'mariadb-install-db': 'mariadb-server',
  mariadb: 'mariadb-client',
  'mariadb-dump': 'mariadb-client',
  'mariadb-admin': 'mariadb-client',
  'redis-server': 'redis-server',
  'redis-cli': 'redis-tools',
  restic: 'restic',
  rclone: 'rclone',
  // The dashboard's browser tests (playwright-core drives Debian's build; it never downloads one).
  chromium: 'chromium',
  'victoria-metrics': 'victoria-metrics',
  sshd: 'openssh-server',
  podman: 'podman',
  // Gitea: built with CGO (SQLite), runs git, and its restore loads gitea-db.sql with sqlite3.
  gcc: 'gcc',
  git: 'git',
  sqlite3: 'sqlite3',
  openssl: 'openssl',
  pip3: 'python3-pip',
};

/** The binaries each throwaway server needs, for `needBinaries(t, ...SERVER_BINARIES.redis)`. */
export const SERVER_BINARIES = {
  postgres: ['initdb', 'postgres', 'psql', 'pg_isready'],
  mariadb: ['mariadb-install-db', 'mariadbd', 'mariadb'],
  redis: ['redis-server', 'redis-cli'],
  rclone: ['rclone'],
  restic: ['restic'],
} as const;

const POSTGRES_SERVER_BINARIES = new Set(['initdb', 'pg_ctl', 'postgres', 'pg_controldata', 'pg_resetwal']);
const SBIN_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Versioned PostgreSQL bin directories, preferred major first, then newest first. */
export function postgresBinDirs(): string[] {
  const root = '/usr/lib/postgresql';
  let versions: string[];
  try {
    versions = readdirSync(root).filter((v) => /^\d+(\.\d+)?$/.test(v));
  } catch {
    versions = [];
  }
  versions.sort((a, b) => {
    const pa = Number.parseFloat(a) === PREFERRED_POSTGRES_MAJOR ? 1 : 0;
    const pb = Number.parseFloat(b) === PREFERRED_POSTGRES_MAJOR ? 1 : 0;
    return pb - pa || Number.parseFloat(b) - Number.parseFloat(a);
  });
  return versions.map((v) => join(root, v, 'bin'));
}

/**
 * The directory holding initdb, postgres and pg_ctl together, or undefined. A PATH entry is
 * used only if it resolves (through Debian's symlinks) to a directory that has all three, so
 * the three always come from the same major version.
 */
export function findPostgresBinDir(): string | undefined {
  const complete = (dir: string) => ['initdb', 'postgres', 'pg_ctl'].every((b) => isExecutable(join(dir, b)));
  for (const dir of postgresBinDirs()) if (complete(dir)) return dir;
  const initdb = findOnPath('initdb');
  if (initdb !== undefined) {
    const dir = dirname(realpathSync(initdb));
    if (complete(dir)) return dir;
  }
  return undefined;
}

function findOnPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** Absolute path of a binary, or undefined when it is not installed. */
export function findBinary(name: string): string | undefined {
  if (POSTGRES_SERVER_BINARIES.has(name)) {
    const dir = findPostgresBinDir();
    if (dir !== undefined && isExecutable(join(dir, name))) return join(dir, name);
  }
  const onPath = findOnPath(name);
  if (onPath !== undefined) return onPath;
  for (const dir of [...SBIN_DIRS, ...postgresBinDirs()]) {
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** Like findBinary, but throws an error naming the package to install. */
export function binaryPath(name: string): string {
  const path = findBinary(name);
  if (path === undefined) throw new Error(`${name} is not installed: ${installHint([name])}`);
  return path;
}

/** "apt-get install ..." advice for a list of missing binaries. */
export function installHint(names: readonly string[]): string {
  const packages = [...new Set(names.map((n) => BINARY_PACKAGES[n] ?? n))];
  return `install it with: apt-get install -y --no-install-recommends ${packages.join(' ')}`;
}
