/**
 * What lifeboat reads inside a `gitea dump --type tar` archive, with no Gitea and no I/O of its
 * own: the entries of the tar stream (POSIX ustar with PAX and GNU long names, as Go's
 * archive/tar writes), the small files it needs (app.ini), and the layout checks of verify.
 *
 * The dump's layout (Gitea cmd/dump.go): `app.ini`, `gitea-db.sql`, `repos/<owner>/<name>.git/`
 * (bare repositories), `data/` (the APP_DATA_PATH without repositories, LFS, attachments,
 * packages, archives and logs, which come back as data/lfs, data/attachments, data/packages),
 * `custom/` and `log/`.
 */

export interface TarEntry {
  readonly name: string;
  /** '0' file, '5' directory, '2' symlink… (the ustar type flag). */
  readonly type: string;
  readonly size: number;
}

export interface TarScan {
  readonly entries: readonly TarEntry[];
  /** The contents of the entries `want` asked for. */
  readonly files: ReadonlyMap<string, Buffer>;
  /** Whether the archive ended with its end-of-archive blocks (a cut dump does not). */
  readonly complete: boolean;
}

const BLOCK = 512;

function field(h: Buffer, off: number, len: number): string {
  const s = h.subarray(off, off + len);
  const nul = s.indexOf(0);
  return (nul === -1 ? s : s.subarray(0, nul)).toString('utf8');
}

function octal(h: Buffer, off: number, len: number): number {
  // Base-256 (GNU) for sizes of 8 GiB and more: the high bit of the first byte is set.
  if (((h[off] ?? 0) & 0x80) !== 0) {
    let n = (h[off] ?? 0) & 0x7f;
    for (let i = 1; i < len; i++) n = n * 256 + (h[off + i] ?? 0);
    return n;
  }
  const s = field(h, off, len).trim();
  return s === '' ? 0 : Number.parseInt(s, 8);
}

function checksumOk(h: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (h[i] ?? 0);
  return sum === octal(h, 148, 8);
}

/** PAX records ("<len> key=value\n"), for the long path. */
function paxPath(data: Buffer): string | undefined {
  let at = 0;
  while (at < data.length) {
    const sp = data.indexOf(0x20, at);
    if (sp === -1) break;
    const len = Number(data.subarray(at, sp).toString('ascii'));
    if (!Number.isInteger(len) || len <= 0) break;
    const rec = data.subarray(sp + 1, at + len - 1).toString('utf8');
    const eq = rec.indexOf('=');
    if (rec.slice(0, eq) === 'path') return rec.slice(eq + 1);
    at += len;
  }
  return undefined;
}

/** A byte queue over an async iterable: take n bytes, or skip n, without copying what is skipped. */
class ByteQueue {
  readonly #it: AsyncIterator<Uint8Array>;
  #buf: Buffer = Buffer.alloc(0);

  constructor(chunks: AsyncIterable<Uint8Array>) {
    this.#it = chunks[Symbol.asyncIterator]();
  }

  /** Exactly n bytes, or fewer at the end of the stream. */
  async take(n: number): Promise<Buffer> {
    while (this.#buf.length < n) {
      const r = await this.#it.next();
      if (r.done === true) break;
      this.#buf = this.#buf.length === 0 ? Buffer.from(r.value) : Buffer.concat([this.#buf, r.value]);
    }
    const out = this.#buf.subarray(0, n);
    this.#buf = this.#buf.subarray(out.length);
    return out;
  }

  /** Skips n bytes; false when the stream ended first. */
  async skip(n: number): Promise<boolean> {
    while (n > 0) {
      if (this.#buf.length === 0) {
        const r = await this.#it.next();
        if (r.done === true) return false;
        this.#buf = Buffer.from(r.value);
      }
      const k = Math.min(n, this.#buf.length);
      this.#buf = this.#buf.subarray(k);
      n -= k;
    }
    return true;
  }

  /** Reads to the end (so the producer's exit status is checked) and stops. */
  async drain(): Promise<void> {
    for (let r = await this.#it.next(); r.done !== true; r = await this.#it.next()) { /* read on */ }
  }
}

export class TarFormatError extends Error {}

/**
 * Reads a tar stream to its end, listing its entries and keeping the contents of those `want`
 * names (small files only: app.ini). Throws TarFormatError on a damaged header.
 */
export async function scanTar(chunks: AsyncIterable<Uint8Array>, want: (name: string) => boolean = () => false): Promise<TarScan> {
  const q = new ByteQueue(chunks);
  const entries: TarEntry[] = [];
  const files = new Map<string, Buffer>();
  let longName: string | undefined;
  for (;;) {
    const h = await q.take(BLOCK);
    if (h.length < BLOCK) return { entries, files, complete: false };
    if (h.every((b) => b === 0)) {
      const second = await q.take(BLOCK);
      const complete = second.length === BLOCK && second.every((b) => b === 0);
      await q.drain();
      return { entries, files, complete };
    }
    if (!checksumOk(h)) throw new TarFormatError(`damaged tar header after ${entries.length} entries`);
    const type = field(h, 156, 1) || '0';
    const size = octal(h, 124, 12);
    const padded = Math.ceil(size / BLOCK) * BLOCK;
    if (type === 'x' || type === 'L') {
      const data = await q.take(padded);
      if (data.length < padded) return { entries, files, complete: false };
      longName = type === 'L' ? field(data, 0, size) : paxPath(data.subarray(0, size)) ?? longName;
      continue;
    }
    if (type === 'g') {
      if (!(await q.skip(padded))) return { entries, files, complete: false };
      continue;
    }
    const prefix = field(h, 257, 6).startsWith('ustar') ? field(h, 345, 155) : '';
    const name = (longName ?? (prefix === '' ? field(h, 0, 100) : `${prefix}/${field(h, 0, 100)}`)).replace(/^\.\//, '').replace(/\/$/, '');
    longName = undefined;
    entries.push({ name, type, size });
    if (want(name)) {
      const data = await q.take(padded);
      if (data.length < padded) return { entries, files, complete: false };
      files.set(name, Buffer.from(data.subarray(0, size)));
    } else if (!(await q.skip(padded))) {
      return { entries, files, complete: false };
    }
  }
}

/**
 * app.ini as sections of keys (section '' for the top), names as written (Gitea's are upper-case
 * keys in lower-case sections); values unquoted, as Gitea's ini reader does.
 */
export function parseIni(text: string): Map<string, Map<string, string>> {
  const out = new Map<string, Map<string, string>>([['', new Map()]]);
  let section = out.get('') as Map<string, string>;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith(';') || line.startsWith('#')) continue;
    const sec = /^\[(.+)\]$/.exec(line);
    if (sec) {
      const name = (sec[1] as string).trim();
      section = out.get(name) ?? new Map();
      out.set(name, section);
      continue;
    }
    const eq = line.indexOf('=');
    if (eq === -1) continue;
    let value = line.slice(eq + 1).trim();
    if (value.length >= 2 && ((value.startsWith('"') && value.endsWith('"')) || (value.startsWith('`') && value.endsWith('`')))) value = value.slice(1, -1);
    section.set(line.slice(0, eq).trim(), value);
  }
  return out;
}

/** Where a Gitea keeps what a restore replaces, from its app.ini (Gitea's defaults filled in). */
export interface GiteaLayout {
  readonly workPath: string;
  readonly dataPath: string;
  readonly repoRoot: string;
  readonly customPath: string;
  /** sqlite3, postgres, mysql or mssql. */
  readonly dbType: string;
  /** The SQLite file (dbType sqlite3). */
  readonly dbPath: string;
}

function join(base: string, p: string): string {
  if (p.startsWith('/')) return p;
  return `${base.replace(/\/+$/, '')}/${p}`;
}

/**
 * The layout of a Gitea from its app.ini. `workPath` (the source's work_path) wins over
 * WORK_PATH, as Gitea's --work-path does; relative paths are relative to it.
 */
export function giteaLayout(ini: Map<string, Map<string, string>>, workPath?: string): GiteaLayout | string {
  const get = (s: string, k: string): string | undefined => {
    const v = ini.get(s)?.get(k);
    return v === undefined || v === '' ? undefined : v;
  };
  const work = workPath ?? get('', 'WORK_PATH');
  if (work === undefined || !work.startsWith('/')) return 'app.ini has no absolute WORK_PATH: set work_path';
  const dataPath = join(work, get('server', 'APP_DATA_PATH') ?? 'data');
  const dbType = (get('database', 'DB_TYPE') ?? 'sqlite3').replace(/^sqlite$/, 'sqlite3');
  return {
    workPath: work,
    dataPath,
    repoRoot: join(work, get('repository', 'ROOT') ?? `${dataPath}/gitea-repositories`),
    customPath: join(work, 'custom'),
    dbType,
    dbPath: join(work, get('database', 'PATH') ?? `${dataPath}/gitea.db`),
  };
}

export const DB_DUMP = 'gitea-db.sql';

/**
 * The checks of verify over a scan: complete, app.ini and the database dump present, each
 * repository a bare repository (HEAD, objects/, refs/). Returns [checks, problems].
 */
export function checkDumpLayout(scan: TarScan, hasDb: boolean): [string[], string[]] {
  const problems: string[] = [];
  const names = new Set(scan.entries.map((e) => e.name));
  if (!scan.complete) problems.push('the archive is cut short (no end-of-archive blocks)');
  if (!names.has('app.ini')) problems.push('app.ini: missing');
  if (hasDb && !names.has(DB_DUMP)) problems.push(`${DB_DUMP}: missing (the database dump)`);
  const repos = new Set<string>();
  for (const n of names) {
    const m = /^repos\/([^/]+\/[^/]+\.git)(\/|$)/.exec(n);
    if (m) repos.add(m[1] as string);
  }
  for (const r of [...repos].sort()) {
    const lacks = ['HEAD', 'objects', 'refs'].filter((p) => !names.has(`repos/${r}/${p}`));
    if (lacks.length > 0) problems.push(`repos/${r}: not a bare repository (no ${lacks.join(', ')})`);
  }
  const checks = problems.length === 0
    ? [`gitea dump: ${scan.entries.length} entries, ${repos.size} bare repositories${hasDb ? `, ${DB_DUMP}` : ''}, app.ini, complete`]
    : [];
  return [checks, problems];
}
