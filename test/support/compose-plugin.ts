/**
 * Docker Compose v2 for tests (`docker-compose config` needs no engine), on machines whose
 * Debian release (bookworm) has no Compose v2 package: the trixie package `docker-compose` is
 * downloaded through a private apt configuration (the host's own sources and state are left
 * alone), unpacked, and its binary kept in the test cache, keyed by nothing but its name:
 * delete ~/.cache/lifeboat-test/compose to get a newer one. Never `apt-get install`ed: that
 * would pull a second docker CLI (TEST-SERVERS.md).
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { debianMirror } from './docker-engine.ts';

function cacheDir(): string {
  return path.join(process.env.XDG_CACHE_HOME ?? path.join(homedir(), '.cache'), 'lifeboat-test', 'compose');
}

/** The docker-compose binary, fetched once; the reason it cannot be had otherwise. */
export function composeBinary(): { path: string } | { missing: string } {
  const bin = path.join(cacheDir(), 'docker-compose');
  if (existsSync(bin)) return { path: bin };
  if (process.getuid?.() !== 0) return { missing: 'docker-compose (Compose v2) is not cached and apt-get download needs root here' };
  mkdirSync(path.dirname(cacheDir()), { recursive: true });
  const work = mkdtempSync(`${cacheDir()}-`);
  try {
    let mirror: string;
    try {
      mirror = debianMirror();
    } catch (err) {
      return { missing: (err as Error).message };
    }
    for (const d of ['lists/partial', 'cache/archives/partial', 'etc/preferences.d', 'etc/sources.list.d']) mkdirSync(path.join(work, d), { recursive: true });
    writeFileSync(path.join(work, 'etc', 'sources.list'), `deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${mirror} trixie main\n`);
    const opts = [
      '-o', `Dir::Etc::SourceList=${path.join(work, 'etc', 'sources.list')}`,
      '-o', `Dir::Etc::SourceParts=${path.join(work, 'etc', 'sources.list.d')}`,
      '-o', `Dir::Etc::Preferences=${path.join(work, 'etc', 'preferences')}`,
      '-o', `Dir::Etc::PreferencesParts=${path.join(work, 'etc', 'preferences.d')}`,
      '-o', `Dir::State::Lists=${path.join(work, 'lists')}`,
      '-o', `Dir::Cache=${path.join(work, 'cache')}`,
      '-o', 'APT::Get::List-Cleanup=false',
    ];
    const apt = (args: string[]) => spawnSync('apt-get', [...opts, ...args], { cwd: work, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', timeout: 300_000 });
    const update = apt(['update']);
    if (update.status !== 0) return { missing: `apt-get update (trixie) failed: ${update.stderr.slice(-500)}` };
    const download = apt(['download', 'docker-compose']);
    if (download.status !== 0) return { missing: `apt-get download docker-compose failed: ${download.stderr.slice(-500)}` };
    const deb = readdirSync(work).find((f) => f.startsWith('docker-compose_') && f.endsWith('.deb'));
    if (deb === undefined) return { missing: 'apt-get download docker-compose left no .deb' };
    const x = spawnSync('dpkg', ['-x', deb, 'root'], { cwd: work, stdio: 'ignore' });
    const plugin = path.join(work, 'root', 'usr', 'libexec', 'docker', 'cli-plugins', 'docker-compose');
    if (x.status !== 0 || !existsSync(plugin)) return { missing: 'the docker-compose package holds no cli-plugins/docker-compose' };
    mkdirSync(cacheDir(), { recursive: true });
    copyFileSync(plugin, `${bin}.tmp`);
    renameSync(`${bin}.tmp`, bin); // a concurrent reader never sees half a binary
    return { path: bin };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
