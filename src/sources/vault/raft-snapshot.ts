/**
 * The checker of a raft snapshot archive (Vault, OpenBao), fed chunk by chunk as it streams.
 *
 * A snapshot is a gzip'd tar of `meta.json` (raft index, term…), `state.bin`, `SHA256SUMS` (of
 * those two) and, last, `SHA256SUMS.sealed` (the sums sealed with the barrier). The server sends
 * HTTP 200 before it writes the archive, so a snapshot that fails midway (a seal problem, a
 * crash) still looks like a successful download; the official client only accepts it when the
 * last entry is a non-empty `SHA256SUMS.sealed` (openbao api/sys_raft.go, ErrIncompleteSnapshot).
 * This checker does the same and also checks SHA256SUMS against the entries it hashed on the way.
 * No I/O here: the caller feeds it the decompressed bytes.
 */
import { createHash, type Hash } from 'node:crypto';

const BLOCK = 512;
/** meta.json and SHA256SUMS are kept in memory to be parsed: they are a few hundred bytes. */
const KEEP_LIMIT = 1 << 20;
export const SEALED_SUMS = 'SHA256SUMS.sealed';

export interface RaftMeta {
  readonly index: number;
  readonly term: number;
}

export type RaftSnapshotResult =
  | { readonly ok: true; readonly meta: RaftMeta; readonly entries: readonly string[]; readonly stateBytes: number }
  | { readonly ok: false; readonly reason: string };

interface Entry {
  name: string;
  size: number;
  remaining: number;
  hash: Hash;
  kept: Buffer[] | undefined;
}

function octal(b: Buffer): number {
  const s = b.toString('latin1').replace(/\0.*$/s, '').trim();
  return s === '' ? 0 : Number.parseInt(s, 8);
}

export class RaftSnapshotChecker {
  #pending: Buffer = Buffer.alloc(0);
  #entry: Entry | undefined;
  /** Padding bytes still to skip after an entry's data. */
  #pad = 0;
  #ended = false;
  readonly #done: Array<{ name: string; size: number; sha256: string; content?: Buffer }> = [];
  #failed: string | undefined;

  get failed(): string | undefined {
    return this.#failed;
  }

  /** Decompressed tar bytes. */
  update(chunk: Uint8Array): void {
    if (this.#failed !== undefined || this.#ended) return;
    let buf = this.#pending.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.#pending, chunk]);
    for (;;) {
      if (this.#entry !== undefined) {
        const n = Math.min(this.#entry.remaining, buf.length);
        const part = buf.subarray(0, n);
        this.#entry.hash.update(part);
        this.#entry.kept?.push(Buffer.from(part));
        this.#entry.remaining -= n;
        buf = buf.subarray(n);
        if (this.#entry.remaining > 0) break;
        const e = this.#entry;
        this.#done.push({ name: e.name, size: e.size, sha256: e.hash.digest('hex'), content: e.kept && Buffer.concat(e.kept) });
        this.#entry = undefined;
        this.#pad = (BLOCK - (e.size % BLOCK)) % BLOCK;
      }
      if (this.#pad > 0) {
        const n = Math.min(this.#pad, buf.length);
        this.#pad -= n;
        buf = buf.subarray(n);
        if (this.#pad > 0) break;
      }
      if (buf.length < BLOCK) break;
      const header = buf.subarray(0, BLOCK);
      buf = buf.subarray(BLOCK);
      if (header.every((b) => b === 0)) {
        this.#ended = true; // end-of-archive marker; what follows is padding
        break;
      }
      const name = header.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '');
      const size = octal(header.subarray(124, 136));
      const type = String.fromCharCode(header[156] ?? 0);
      if (!Number.isSafeInteger(size) || size < 0 || !header.subarray(257, 262).toString('latin1').startsWith('ustar')) {
        this.#failed = `is not a tar archive (entry header ${this.#done.length + 1} is malformed)`;
        return;
      }
      if (type !== '0' && type !== '\0') {
        this.#failed = `holds an unexpected entry ${JSON.stringify(name)} of tar type ${JSON.stringify(type)}`;
        return;
      }
      const keep = (name === 'meta.json' || name === 'SHA256SUMS') && size <= KEEP_LIMIT;
      this.#entry = { name, size, remaining: size, hash: createHash('sha256'), kept: keep ? [] : undefined };
    }
    this.#pending = Buffer.from(buf);
  }

  /** Call once the stream has ended: whether the archive is complete and consistent. */
  finish(): RaftSnapshotResult {
    if (this.#failed !== undefined) return { ok: false, reason: this.#failed };
    if (this.#entry !== undefined) return { ok: false, reason: `is truncated inside ${this.#entry.name} (${this.#entry.remaining} of ${this.#entry.size} bytes missing)` };
    const last = this.#done.at(-1);
    if (last?.name !== SEALED_SUMS || last.size === 0) {
      return { ok: false, reason: `is incomplete: its last entry is ${last === undefined ? 'missing' : JSON.stringify(last.name)}, not a non-empty ${SEALED_SUMS} (the server failed while writing it)` };
    }
    const byName = new Map(this.#done.map((e) => [e.name, e]));
    const sums = byName.get('SHA256SUMS')?.content;
    if (sums === undefined) return { ok: false, reason: 'has no SHA256SUMS' };
    const listed = new Map<string, string>();
    for (const line of sums.toString('utf8').split('\n')) {
      const m = /^([0-9a-f]{64}) [ *]?(.+)$/.exec(line.trim());
      if (m) listed.set(m[2] as string, m[1] as string);
    }
    for (const need of ['meta.json', 'state.bin']) {
      const e = byName.get(need);
      if (e === undefined) return { ok: false, reason: `has no ${need}` };
      if (listed.get(need) !== e.sha256) return { ok: false, reason: `fails its SHA256SUMS check on ${need} (listed ${listed.get(need) ?? 'nothing'}, read ${e.sha256})` };
    }
    let meta: RaftMeta;
    try {
      const m = JSON.parse((byName.get('meta.json')?.content ?? Buffer.alloc(0)).toString('utf8')) as { Index?: unknown; Term?: unknown };
      if (typeof m.Index !== 'number' || typeof m.Term !== 'number') throw new Error('no Index/Term');
      meta = { index: m.Index, term: m.Term };
    } catch (err) {
      return { ok: false, reason: `has a meta.json that does not parse (${err instanceof Error ? err.message : String(err)})` };
    }
    return { ok: true, meta, entries: this.#done.map((e) => e.name), stateBytes: byName.get('state.bin')?.size ?? 0 };
  }
}
