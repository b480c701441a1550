/**
 * Restoring database dumps into other databases: how the `to:` of a postgres or mysql source
 * maps the databases of a backup onto target databases. Shared by both adapters.
 */
import { SourceError } from '../core/errors.ts';

export interface RestoreTarget {
  readonly from: string;
  readonly to: string;
}

/**
 * Resolves `to` against the databases of a backup: "newname" needs exactly one database;
 * "a=b,c=d" restores only the named ones. Without `to`, every database onto itself.
 * `known` undefined means "not known here" (fingerprint with databases: all): a mapping is
 * taken as written, a bare name is refused.
 */
export function restoreTargets(known: readonly string[] | undefined, to: string | undefined, label: string): RestoreTarget[] {
  if (to === undefined || to.trim() === '') {
    if (known === undefined) throw new SourceError(`${label}: the databases to restore are unknown`);
    return known.map((d) => ({ from: d, to: d }));
  }
  if (to.includes('=')) {
    const targets = to.split(',').map((pair) => {
      const [from, target, ...rest] = pair.split('=').map((s) => s.trim());
      if (!from || !target || rest.length > 0) {
        throw new SourceError(`${label}: cannot read "${pair}" in to: ${to}`, { hint: 'write to: as app=app_copy,shop=shop_copy' });
      }
      if (known !== undefined && !known.includes(from)) {
        throw new SourceError(`${label}: to: names database "${from}", which is not in the backup (it has ${known.join(', ') || 'none'})`);
      }
      return { from, to: target };
    });
    const seen = new Set<string>();
    for (const t of targets) {
      if (seen.has(t.to)) throw new SourceError(`${label}: to: restores two databases into "${t.to}"`);
      seen.add(t.to);
    }
    return targets;
  }
  if (known === undefined || known.length !== 1) {
    const what = known === undefined ? 'databases: all' : `${known.length} databases (${known.join(', ')})`;
    throw new SourceError(`${label}: to: ${to} names one target, but the source has ${what}`, {
      hint: `name each database, e.g. to: ${known?.[0] ?? 'app'}=${to}`,
    });
  }
  return [{ from: known[0], to: to.trim() }];
}
