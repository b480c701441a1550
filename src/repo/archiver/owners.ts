/** User and group names for uids and gids, read once from /etc/passwd and /etc/group. */
import { readFileSync } from 'node:fs';

function readMap(file: string): Map<number, string> {
  const m = new Map<number, string>();
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return m; // no such file (minimal containers): names stay empty, as restic leaves them
  }
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length >= 3 && f[0]) m.set(Number(f[2]), f[0]);
  }
  return m;
}

let users: Map<number, string> | undefined;
let groups: Map<number, string> | undefined;

export function userName(uid: number): string | undefined {
  users ??= readMap('/etc/passwd');
  return users.get(uid);
}

export function groupName(gid: number): string | undefined {
  groups ??= readMap('/etc/group');
  return groups.get(gid);
}

export function uidOf(name: string | undefined): number | undefined {
  if (!name) return undefined;
  users ??= readMap('/etc/passwd');
  for (const [id, n] of users) if (n === name) return id;
  return undefined;
}

export function gidOf(name: string | undefined): number | undefined {
  if (!name) return undefined;
  groups ??= readMap('/etc/group');
  for (const [id, n] of groups) if (n === name) return id;
  return undefined;
}
