/**
 * withFaults: a Storage wrapper that misbehaves on purpose, following a FaultPlan, so tests
 * can prove what the layers above do when storage fails: retry, report, or detect
 * corruption.
 *
 * A plan is a list of rules. Each rule names an operation, optionally narrows it to some
 * handles, optionally picks which of those calls to hit (1-based, counted per rule), and
 * says what to do: fail before the call, fail after it took effect (a lost reply), corrupt
 * or truncate what a load returns, or delay. Every rule that matches a call applies, in order.
 *
 * Example: fail the first two saves of data files with a retryable error.
 *   withFaults(inner, { rules: [{ op: 'save', match: (h) => h.type === 'data', calls: [1, 2],
 *     fault: { kind: 'fail', retryable: true } }] })
 */
import { CancelledError, LifeboatError } from '../../core/errors.ts';
import { describeHandle } from '../storage.ts';
import type { CallOptions, FileInfo, FileType, Handle, LoadOptions, Storage } from '../storage.ts';

export type StorageOp = 'create' | 'save' | 'load' | 'stat' | 'remove' | 'list';

export type Fault =
  /** Throw instead of calling the inner storage. For list, `afterItems` entries are yielded first. */
  | { readonly kind: 'fail'; readonly retryable: boolean; readonly code?: string; readonly afterItems?: number }
  /** Call the inner storage, then throw as if its reply was lost: the call took effect. */
  | { readonly kind: 'lose-reply'; readonly retryable?: boolean }
  /** load: flip one bit of the returned bytes (offset within the returned range). */
  | { readonly kind: 'flip-bit'; readonly offset: number; readonly bit?: number }
  /** load: return only the first `length` bytes of what was asked for. */
  | { readonly kind: 'truncate'; readonly length: number }
  /** Wait before calling the inner storage. */
  | { readonly kind: 'delay'; readonly ms: number };

export interface FaultRule {
  readonly op: StorageOp;
  /** Only calls on matching handles (list passes `{ type, name: '' }`; create passes config). */
  readonly match?: (h: Handle) => boolean;
  /** Which matching calls to hit, 1-based; default every one. */
  readonly calls?: readonly number[];
  readonly fault: Fault;
}

export interface FaultPlan {
  readonly rules: readonly FaultRule[];
  /** How `delay` waits (default a timer that honours the signal). */
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export interface FaultyStorage extends Storage {
  /** Calls received per operation, counting those that failed. */
  readonly calls: Readonly<Record<StorageOp, number>>;
  /** Faults injected so far. */
  readonly injected: number;
}

export function withFaults(inner: Storage, plan: FaultPlan): FaultyStorage {
  return new FaultyStorageImpl(inner, plan);
}

class FaultyStorageImpl implements FaultyStorage {
  readonly #inner: Storage;
  readonly #plan: FaultPlan;
  /** Matching calls seen so far, per rule. */
  readonly #seen: number[];
  readonly #calls: Record<StorageOp, number> = { create: 0, save: 0, load: 0, stat: 0, remove: 0, list: 0 };
  #injected = 0;

  constructor(inner: Storage, plan: FaultPlan) {
    this.#inner = inner;
    this.#plan = plan;
    this.#seen = plan.rules.map(() => 0);
  }

  get properties() {
    return this.#inner.properties;
  }
  get calls(): Readonly<Record<StorageOp, number>> {
    return { ...this.#calls };
  }
  get injected(): number {
    return this.#injected;
  }

  create(opts: CallOptions = {}): Promise<void> {
    return this.#call('create', { type: 'config', name: '' }, opts, () => this.#inner.create(opts));
  }
  save(h: Handle, data: Uint8Array, opts: CallOptions = {}): Promise<void> {
    return this.#call('save', h, opts, () => this.#inner.save(h, data, opts));
  }
  stat(h: Handle, opts: CallOptions = {}): Promise<FileInfo> {
    return this.#call('stat', h, opts, () => this.#inner.stat(h, opts));
  }
  remove(h: Handle, opts: CallOptions = {}): Promise<void> {
    return this.#call('remove', h, opts, () => this.#inner.remove(h, opts));
  }

  async load(h: Handle, opts: LoadOptions = {}): Promise<Buffer> {
    const faults = this.#faultsFor('load', h);
    let buf = await this.#call('load', h, opts, () => this.#inner.load(h, opts), faults);
    for (const f of faults) {
      if (f.kind === 'flip-bit' && f.offset >= 0 && f.offset < buf.length) {
        buf = Buffer.from(buf); // never scribble on a buffer the inner storage may share
        buf[f.offset] ^= 1 << ((f.bit ?? 0) & 7);
        this.#injected++;
      } else if (f.kind === 'truncate' && f.length < buf.length) {
        buf = buf.subarray(0, Math.max(0, f.length));
        this.#injected++;
      }
    }
    return buf;
  }

  async *list(type: FileType, opts: CallOptions = {}): AsyncGenerator<FileInfo> {
    const h: Handle = { type, name: '' };
    const faults = this.#faultsFor('list', h);
    await this.#before('list', h, faults, opts.signal);
    const breaking = faults.find((f) => f.kind === 'fail');
    let n = 0;
    for await (const fi of this.#inner.list(type, opts)) {
      yield fi;
      n++;
      if (breaking?.kind === 'fail' && n === breaking.afterItems) throw this.#error('list', h, breaking.retryable, breaking.code);
    }
    // A listing shorter than `afterItems` still fails, at its end.
    if (breaking?.kind === 'fail' && (breaking.afterItems ?? 0) > n) throw this.#error('list', h, breaking.retryable, breaking.code);
    for (const f of faults) if (f.kind === 'lose-reply') throw this.#error('list', h, f.retryable ?? true);
  }

  close(): Promise<void> {
    return this.#inner.close();
  }

  /** Counts the call against every rule of `op` whose predicate matches; returns the faults due. */
  #faultsFor(op: StorageOp, h: Handle): Fault[] {
    this.#calls[op]++;
    const due: Fault[] = [];
    this.#plan.rules.forEach((rule, i) => {
      if (rule.op !== op || (rule.match !== undefined && !rule.match(h))) return;
      const nth = ++this.#seen[i];
      if (rule.calls === undefined || rule.calls.includes(nth)) due.push(rule.fault);
    });
    return due;
  }

  async #call<T>(op: StorageOp, h: Handle, opts: CallOptions, fn: () => Promise<T>, faults = this.#faultsFor(op, h)): Promise<T> {
    await this.#before(op, h, faults, opts.signal);
    const result = await fn();
    for (const f of faults) if (f.kind === 'lose-reply') throw this.#error(op, h, f.retryable ?? true);
    return result;
  }

  /** Applies delays, then failures that strike before the inner call. */
  async #before(op: StorageOp, h: Handle, faults: readonly Fault[], signal: AbortSignal | undefined): Promise<void> {
    for (const f of faults) {
      if (f.kind === 'delay') {
        try {
          await (this.#plan.sleep ?? sleep)(f.ms, signal);
        } catch (err) {
          throw new CancelledError(`${op} ${describeHandle(h)} cancelled`, { cause: err });
        }
      } else if (f.kind === 'fail' && (op !== 'list' || f.afterItems === undefined)) {
        throw this.#error(op, h, f.retryable, f.code);
      }
    }
  }

  #error(op: StorageOp, h: Handle, retryable: boolean, code = 'injected_fault'): LifeboatError {
    this.#injected++;
    const what = op === 'list' ? `list ${h.type}` : `${op} ${describeHandle(h)}`;
    return new LifeboatError(code, `injected fault: ${what} in ${this.#inner.properties.location} failed`, {
      retryable,
      data: { injected: true, op, file: describeHandle(h) },
    });
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
