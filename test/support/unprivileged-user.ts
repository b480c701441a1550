/**
 * PostgreSQL refuses to run as root. When the tests run as root, its processes run as an
 * unprivileged account instead: `nobody` where it exists, otherwise a `lifeboat-test` system
 * user created on first use. Not root: the current user is fine and no switching happens.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface UnixUser {
  name: string;
  uid: number;
  gid: number;
}

function lookup(name: string): UnixUser | undefined {
  let passwd: string;
  try {
    passwd = readFileSync('/etc/passwd', 'utf8');
  } catch {
    return undefined;
  }
  for (const line of passwd.split('\n')) {
    const [user, , uid, gid] = line.split(':');
    if (user === name && uid !== undefined && gid !== undefined) return { name, uid: Number(uid), gid: Number(gid) };
  }
  return undefined;
}

let cached: UnixUser | undefined;

/** The account to run a server as, or undefined when no switch is needed (not root). */
export function unprivilegedUser(): UnixUser | undefined {
  if (process.getuid?.() !== 0) return undefined;
  if (cached !== undefined) return cached;
  cached = lookup('nobody');
  if (cached === undefined) {
    cached = lookup('lifeboat-test');
    if (cached === undefined) {
      execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', 'lifeboat-test'], { stdio: 'ignore' });
      cached = lookup('lifeboat-test');
    }
  }
  if (cached === undefined) throw new Error('no unprivileged user to run PostgreSQL as: create one with useradd --system lifeboat-test');
  return cached;
}
