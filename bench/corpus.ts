/**
 * Benchmark corpus: a deterministic tree of mixed files and a plain SQL dump, generated from
 * fixed seeds so every run (and every machine) backs up the same bytes.
 *
 * The tree mixes what a self-hosted stack leaves on disk: many small config-like text files,
 * medium text/CSV files, incompressible random files (media, encrypted blobs) and compressible
 * logs and JSON. The dump is pg_dump --inserts style text. Dump variants are described by a list
 * of edits; each edit rewrites a contiguous run of rows (UPDATEs) and appends rows to one table
 * (growth), so a later dump shares most of its bytes with an earlier one, like hourly dumps do.
 *
 * `applyChange` turns a copy of the tree into its "about 2 % changed" state, also deterministically.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';

/** Bumped whenever generation changes, so a stale corpus on disk is regenerated. */
export const CORPUS_VERSION = 4;

export interface CorpusSpec {
  readonly scale: number;
  readonly smallFiles: number;
  readonly mediumFiles: number;
  readonly randomFiles: readonly number[];
  readonly logFiles: number;
  readonly logBytes: number;
  readonly jsonFiles: number;
  readonly jsonBytes: number;
  readonly dumpBytes: number;
}

const MiB = 1024 * 1024;

/** Full size: about 600 MB of tree plus a 300 MB dump; `scale` 0.1 is the --quick corpus. */
export function corpusSpec(scale: number): CorpusSpec {
  const n = (x: number): number => Math.max(1, Math.round(x * scale));
  return {
    scale,
    smallFiles: n(20000),
    mediumFiles: n(60),
    randomFiles: [64, 64, 16, 16, 16, 16, 1, 1, 1, 1, 1, 1, 1, 1].map((m) => Math.max(64 * 1024, Math.round(m * MiB * scale))),
    logFiles: 6,
    logBytes: n(15 * MiB),
    jsonFiles: 20,
    jsonBytes: n(2 * MiB),
    dumpBytes: n(300e6),
  };
}

// ---------------------------------------------------------------------------------------------
// Deterministic pseudo-randomness. mulberry32 for choices; AES-128-CTR over zeros for bulk
// incompressible bytes (fast, and the same on every machine).

export class Rng {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0;
  }
  next(): number {
    let t = (this.#s = (this.#s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)];
  }
}

export function mix(...xs: number[]): number {
  let h = 0x811c9dc5;
  for (const x of xs) {
    h = Math.imul(h ^ (x >>> 0), 0x01000193);
    h ^= h >>> 13;
    h = Math.imul(h, 0x5bd1e995);
    h ^= h >>> 15;
  }
  return h >>> 0;
}

export function randomBytes(seed: number, size: number): Buffer {
  const key = Buffer.alloc(16);
  key.writeUInt32LE(seed, 0);
  key.writeUInt32LE(0x6c696665, 4);
  const c = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  return c.update(Buffer.alloc(size));
}

// A fixed vocabulary of pseudo-words built from syllables, skewed so some words are frequent:
// text then compresses roughly like real prose or config (2-4x with gzip), not like noise.
const SYL = ['ka', 'lo', 'mi', 're', 'tan', 'sul', 'ber', 'ni', 'ox', 'pra', 'de', 'vin', 'ga', 'mor', 'te', 'fi', 'qua', 'sel', 'un', 'dro'];
const VOCAB: string[] = (() => {
  const r = new Rng(42);
  const out: string[] = [];
  for (let i = 0; i < 3000; i++) {
    const n = 1 + r.int(4);
    let w = '';
    for (let j = 0; j < n; j++) w += r.pick(SYL);
    out.push(w);
  }
  return out;
})();
const FIRST = ['Anna', 'Ben', 'Chloe', 'David', 'Eva', 'Farid', 'Grace', 'Hugo', 'Ines', 'Jonas', 'Kira', 'Liam', 'Mona', 'Nils', 'Olga', 'Pavel', 'Rosa', 'Sami', 'Tara', 'Umar'];
const LAST = ['Meyer', 'Okafor', 'Santos', 'Novak', 'Kim', 'Larsen', 'Rossi', 'Dubois', 'Haddad', 'Tanaka', 'Ivanova', 'Schmidt', 'Garcia', 'Nguyen', 'Brown'];
const LEVELS = ['INFO', 'INFO', 'INFO', 'DEBUG', 'WARN', 'ERROR'];

function word(r: Rng): string {
  // Squaring skews towards the front of the vocabulary (Zipf-like).
  const x = r.next();
  return VOCAB[Math.floor(x * x * VOCAB.length)];
}

function sentence(r: Rng, words: number): string {
  const parts: string[] = [];
  for (let i = 0; i < words; i++) parts.push(word(r));
  return parts.join(' ');
}

function timestamp(r: Rng, base: number): string {
  return new Date(base + r.int(86400 * 365) * 1000).toISOString();
}

/** Text of about `size` bytes built line by line by `line`. */
function textOf(size: number, line: (r: Rng, i: number) => string, r: Rng): Buffer {
  const parts: string[] = [];
  let n = 0;
  for (let i = 0; n < size; i++) {
    const l = line(r, i) + '\n';
    parts.push(l);
    n += l.length;
  }
  return Buffer.from(parts.join('')).subarray(0, size);
}

export function smallFile(index: number, generation: number): { name: string; data: Buffer } {
  const r = new Rng(mix(1, index, generation));
  const size = 1024 + r.int(15 * 1024);
  const kind = index % 5;
  const base = `f${String(index).padStart(5, '0')}`;
  if (kind === 0) {
    return { name: `${base}.conf`, data: textOf(size, (q, i) => (i % 12 === 0 ? `[${word(q)}]` : `${word(q)}_${word(q)} = ${q.int(2) ? q.int(100000) : word(q)}`), r) };
  }
  if (kind === 1) {
    return { name: `${base}.yml`, data: textOf(size, (q, i) => `${'  '.repeat(i % 3)}${word(q)}: ${q.int(3) ? sentence(q, 1 + q.int(3)) : q.int(65536)}`, r) };
  }
  if (kind === 2) {
    return { name: `${base}.json`, data: textOf(size, (q) => `  "${word(q)}": {"id": ${q.int(1e6)}, "name": "${sentence(q, 2)}", "enabled": ${q.int(2) === 1}},`, r) };
  }
  if (kind === 3) {
    return { name: `${base}.md`, data: textOf(size, (q, i) => (i % 8 === 0 ? `## ${sentence(q, 3)}` : sentence(q, 6 + q.int(10)) + '.'), r) };
  }
  return { name: `${base}.js`, data: textOf(size, (q) => `${'  '.repeat(q.int(4))}const ${word(q)} = ${word(q)}(${word(q)}, ${q.int(100)});`, r) };
}

function mediumFile(index: number, generation: number, size: number): { name: string; data: Buffer } {
  const r = new Rng(mix(2, index, generation));
  if (index % 2 === 0) {
    const t0 = Date.UTC(2024, 0, 1);
    return { name: `table-${index}.csv`, data: textOf(size, (q, i) => `${i},${q.pick(FIRST)},${q.pick(LAST)},${timestamp(q, t0)},${(q.next() * 1000).toFixed(2)},${word(q)}`, r) };
  }
  return { name: `doc-${index}.txt`, data: textOf(size, (q) => sentence(q, 8 + q.int(12)) + '.', r) };
}

function logLine(q: Rng, i: number, t0: number): string {
  const ts = new Date(t0 + i * 1370).toISOString();
  return `${ts} ${q.pick(LEVELS)} [${word(q)}] request_id=${q.int(1e9).toString(16)} user=${q.pick(FIRST).toLowerCase()} path=/${word(q)}/${word(q)} status=${q.pick([200, 200, 200, 201, 304, 404, 500])} duration_ms=${q.int(900)} ${sentence(q, 3)}`;
}

function jsonLine(q: Rng, i: number): string {
  return JSON.stringify({ id: i, event: word(q), at: timestamp(q, Date.UTC(2024, 0, 1)), user: { name: `${q.pick(FIRST)} ${q.pick(LAST)}`, tags: [word(q), word(q)] }, value: q.int(100000) });
}

// ---------------------------------------------------------------------------------------------
// The tree.

function writeFile(file: string, data: Buffer): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, data);
}

export function generateTree(dir: string, spec: CorpusSpec): void {
  for (let i = 0; i < spec.smallFiles; i++) {
    const f = smallFile(i, 0);
    writeFile(path.join(dir, 'etc', `d${String(Math.floor(i / 100)).padStart(3, '0')}`, f.name), f.data);
  }
  for (let i = 0; i < spec.mediumFiles; i++) {
    const size = Math.round((512 * 1024 + new Rng(mix(3, i)).int(2.5 * MiB)) * Math.min(1, spec.scale * 4));
    const f = mediumFile(i, 0, size);
    writeFile(path.join(dir, 'data', f.name), f.data);
  }
  spec.randomFiles.forEach((size, i) => writeFile(path.join(dir, 'media', `blob-${i}.bin`), randomBytes(mix(4, i), size)));
  for (let i = 0; i < spec.logFiles; i++) {
    const r = new Rng(mix(5, i));
    writeFile(path.join(dir, 'log', `app-${i}.log`), textOf(spec.logBytes, (q, j) => logLine(q, j, Date.UTC(2024, 5, 1)), r));
  }
  for (let i = 0; i < spec.jsonFiles; i++) {
    const r = new Rng(mix(6, i));
    writeFile(path.join(dir, 'export', `events-${i}.jsonl`), textOf(spec.jsonBytes, jsonLine, r));
  }
}

/** Every regular file under dir, relative paths, sorted. */
export function listFiles(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const e of readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const p = rel === '' ? e.name : `${rel}/${e.name}`;
    if (e.isDirectory()) out.push(...listFiles(dir, p));
    else if (e.isFile()) out.push(p);
  }
  return out.sort();
}

/** Bytes written (new or rewritten) by the change, to report how large "2 %" really was. */
export function applyChange(dir: string, spec: CorpusSpec): { bytesChanged: number; actions: string[] } {
  const r = new Rng(777);
  let bytes = 0;
  const actions: string[] = [];
  // 2 % of the small files rewritten, 0.5 % added, 0.25 % deleted.
  const rewrite = Math.round(spec.smallFiles * 0.02);
  const small = listFiles(dir).filter((p) => p.startsWith('etc/'));
  for (let k = 0; k < rewrite; k++) {
    const p = small[r.int(small.length)];
    const idx = Number(/f(\d+)/.exec(p)?.[1] ?? k);
    const f = smallFile(idx, 1);
    writeFileSync(path.join(dir, p), f.data);
    bytes += f.data.length;
  }
  const add = Math.max(1, Math.round(spec.smallFiles * 0.005));
  for (let k = 0; k < add; k++) {
    const f = smallFile(1_000_000 + k, 0);
    writeFile(path.join(dir, 'etc', 'new', f.name), f.data);
    bytes += f.data.length;
  }
  const del = Math.max(1, Math.round(spec.smallFiles * 0.0025));
  for (let k = 0; k < del; k++) rmSync(path.join(dir, small[(k * 7919) % small.length]), { force: true });
  actions.push(`rewrote ${rewrite} small files, added ${add}, deleted ${del}`);
  // Logs grow: about 1/15 of their size appended to each.
  for (let i = 0; i < spec.logFiles; i++) {
    const extra = textOf(Math.round(spec.logBytes / 15), (q, j) => logLine(q, j, Date.UTC(2024, 6, 1)), new Rng(mix(8, i)));
    const fd = openSync(path.join(dir, 'log', `app-${i}.log`), 'a');
    writeSync(fd, extra);
    closeSync(fd);
    bytes += extra.length;
  }
  actions.push(`appended ${Math.round(spec.logBytes / 15 / 1024)} KiB to each of ${spec.logFiles} logs`);
  // A few bytes changed in place at 3 offsets in 3 large random files (a database page rewrite).
  for (let i = 0; i < 3; i++) {
    const file = path.join(dir, 'media', `blob-${i * 2}.bin`);
    const size = statSync(file).size;
    const fd = openSync(file, 'r+');
    for (let k = 0; k < 3; k++) writeSync(fd, randomBytes(mix(9, i, k), 4096), 0, 4096, Math.floor(((k + 1) * size) / 4));
    closeSync(fd);
    bytes += 3 * 4096;
  }
  actions.push('overwrote 3 x 4 KiB in each of 3 large random files');
  // A line inserted in the middle of two medium text files (shifts everything after it).
  for (const name of ['doc-1.txt', 'table-0.csv']) {
    const file = path.join(dir, 'data', name);
    if (!existsSync(file)) continue;
    const data = readFileSync(file);
    const mid = data.indexOf(10, data.length >> 1) + 1;
    writeFileSync(file, Buffer.concat([data.subarray(0, mid), Buffer.from(`${sentence(r, 12)}\n`), data.subarray(mid)]));
    bytes += 100;
  }
  actions.push('inserted a line in the middle of 2 medium files');
  return { bytesChanged: bytes, actions };
}

// ---------------------------------------------------------------------------------------------
// The SQL dump.

export interface DumpEdit {
  readonly seed: number;
  /** Fraction of all rows rewritten (a contiguous run) and, a fifth of it, appended. */
  readonly fraction: number;
}

interface Table {
  readonly name: string;
  readonly columns: string;
  readonly share: number;
  readonly row: (q: Rng, id: number) => string;
}

const TABLES: readonly Table[] = [
  {
    name: 'users', columns: 'id, name, email, created_at, bio', share: 0.2,
    row: (q, id) => {
      const f = q.pick(FIRST);
      const l = q.pick(LAST);
      return `${id}, '${f} ${l}', '${f.toLowerCase()}.${l.toLowerCase()}${q.int(100)}@example.org', '${timestamp(q, Date.UTC(2020, 0, 1))}', '${sentence(q, 4 + q.int(10))}'`;
    },
  },
  {
    name: 'orders', columns: 'id, user_id, total, currency, status, created_at', share: 0.35,
    row: (q, id) => `${id}, ${1 + q.int(200000)}, ${(q.next() * 500).toFixed(2)}, '${q.pick(['EUR', 'USD', 'GBP'])}', '${q.pick(['paid', 'paid', 'shipped', 'refunded', 'open'])}', '${timestamp(q, Date.UTC(2023, 0, 1))}'`,
  },
  {
    name: 'comments', columns: 'id, order_id, author, body, meta', share: 0.45,
    row: (q, id) => `${id}, ${1 + q.int(900000)}, '${q.pick(FIRST)}', '${sentence(q, 8 + q.int(20))}', '{"lang": "${q.pick(['en', 'de', 'fr'])}", "score": ${q.int(10)}}'`,
  },
];

/** Approximate bytes per row, measured once, to size the row counts to dumpBytes. */
function avgRowBytes(t: Table, name: string): number {
  const q = new Rng(1);
  let n = 0;
  for (let i = 0; i < 500; i++) n += `INSERT INTO public.${name} (${t.columns}) VALUES (${t.row(q, i)});\n`.length;
  return n / 500;
}

interface EditRange {
  readonly table: number;
  readonly from: number;
  readonly to: number;
  readonly append: number;
  readonly id: number;
}

function editRanges(spec: CorpusSpec, edits: readonly DumpEdit[]): { base: number[]; ranges: EditRange[] } {
  const base = TABLES.map((t) => Math.round((spec.dumpBytes * t.share) / avgRowBytes(t, t.name)));
  const ranges = edits.map((e, k) => {
    const r = new Rng(mix(10, e.seed));
    const table = r.int(TABLES.length);
    const total = base.reduce((a, b) => a + b, 0);
    const len = Math.min(base[table], Math.round(total * e.fraction * 0.8));
    const from = r.int(Math.max(1, base[table] - len));
    return { table, from, to: from + len, append: Math.round(total * e.fraction * 0.2), id: k + 1 };
  });
  return { base, ranges };
}

/** Writes the dump described by `edits` to `file`; returns its size. */
export function generateDump(file: string, spec: CorpusSpec, edits: readonly DumpEdit[]): number {
  const { base, ranges } = editRanges(spec, edits);
  const fd = openSync(file, 'w');
  let buf: string[] = [];
  let bufLen = 0;
  let size = 0;
  const emit = (s: string): void => {
    buf.push(s);
    bufLen += s.length;
    if (bufLen > 1 << 20) flush();
  };
  const flush = (): void => {
    const b = Buffer.from(buf.join(''));
    writeSync(fd, b);
    size += b.length;
    buf = [];
    bufLen = 0;
  };
  emit('--\n-- PostgreSQL database dump\n--\n\nSET statement_timeout = 0;\nSET client_encoding = \'UTF8\';\n\n');
  TABLES.forEach((t, ti) => {
    emit(`CREATE TABLE public.${t.name} (${t.columns.split(', ').map((c) => `${c} text`).join(', ')});\n\n`);
    const appended = ranges.filter((g) => g.table === ti).reduce((a, g) => a + g.append, 0);
    const head = `INSERT INTO public.${t.name} (${t.columns}) VALUES (`;
    for (let i = 0; i < base[ti] + appended; i++) {
      let version = 0;
      for (const g of ranges) if (g.table === ti && i >= g.from && i < g.to) version = g.id;
      emit(head + t.row(new Rng(mix(11, ti, i, version)), i + 1) + ');\n');
    }
    emit('\n');
  });
  emit('--\n-- PostgreSQL database dump complete\n--\n');
  flush();
  closeSync(fd);
  return size;
}

/**
 * A large stream for the memory-versus-size step: `bytes` bytes in 1 MiB blocks, alternately
 * AES-256-CTR keystream (incompressible) and the hex of half a block of it (text that zstd
 * halves), all unique, so every chunk is a new blob of either kind. Deterministic: the same
 * `bytes` always gives the same stream. `onEnd` receives its SHA-256.
 */
export function generatedStream(bytes: number, onEnd?: (sha256: string) => void): Readable {
  const BLOCK = 1 << 20;
  const keystream = createCipheriv('aes-256-ctr', Buffer.alloc(32, 7), Buffer.alloc(16, 0));
  const zeros = Buffer.alloc(BLOCK);
  const hash = createHash('sha256');
  return Readable.from(
    (function* () {
      for (let at = 0, i = 0; at < bytes; at += BLOCK, i++) {
        const n = Math.min(BLOCK, bytes - at);
        const block = i % 2 === 0 ? keystream.update(zeros.subarray(0, n)) : Buffer.from(keystream.update(zeros.subarray(0, Math.ceil(n / 2))).toString('hex').slice(0, n));
        hash.update(block);
        yield block;
      }
      onEnd?.(hash.digest('hex'));
    })(),
    { objectMode: false },
  );
}
