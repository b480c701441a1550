/**
 * A quick pre-scan of the paths a backup will read (lstat only, no file contents), run next to
 * the backup so the progress line can show a percentage and an ETA, as restic's scanner does.
 */
import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';

export interface ScanTotals {
  files: number;
  bytes: number;
}

export async function scanTotals(paths: readonly string[], opts: { exclude?: (abs: string, isDir: boolean) => boolean; signal?: AbortSignal } = {}): Promise<ScanTotals> {
  const totals: ScanTotals = { files: 0, bytes: 0 };
  const walk = async (p: string): Promise<void> => {
    if (opts.signal?.aborted) return;
    let st;
    try {
      st = await lstat(p);
    } catch {
      return; // vanished or unreadable: the backup itself reports it
    }
    if (opts.exclude?.(p, st.isDirectory())) return;
    if (st.isDirectory()) {
      let names: string[];
      try {
        names = await readdir(p);
      } catch {
        return;
      }
      for (const n of names) await walk(path.join(p, n));
    } else if (st.isFile()) {
      totals.files++;
      totals.bytes += st.size;
    }
  };
  for (const p of paths) await walk(path.resolve(p));
  return totals;
}
