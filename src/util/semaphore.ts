/** A counting semaphore: bounded, visible concurrency. */
export class Semaphore {
  #free: number;
  readonly #waiters: Array<() => void> = [];

  readonly size: number;

  constructor(size: number) {
    this.size = size;
    if (!(size >= 1)) throw new RangeError(`semaphore size must be >= 1, got ${size}`);
    this.#free = size;
  }

  get inUse(): number {
    return this.size - this.#free;
  }

  async acquire(): Promise<void> {
    if (this.#free > 0) {
      this.#free--;
      return;
    }
    await new Promise<void>((resolve) => this.#waiters.push(resolve));
  }

  release(): void {
    const next = this.#waiters.shift();
    if (next) next();
    else this.#free++;
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    await this.acquire();
    try {
      return await fn();
    } finally {
      this.release();
    }
  }
}

/**
 * A budget of bytes (a weighted semaphore, first come first served): `acquire(n)` waits until
 * n more bytes fit. A request larger than the whole budget is let through alone, so nothing
 * waits forever.
 */
export class ByteBudget {
  readonly limit: number;
  #used = 0;
  readonly #waiters: Array<{ n: number; go: () => void }> = [];

  constructor(limit: number) {
    if (!(limit >= 1)) throw new RangeError(`byte budget must be >= 1, got ${limit}`);
    this.limit = limit;
  }

  get used(): number {
    return this.#used;
  }

  async acquire(n: number): Promise<void> {
    if (this.#waiters.length === 0 && this.#fits(n)) {
      this.#used += n;
      return;
    }
    await new Promise<void>((go) => this.#waiters.push({ n, go }));
  }

  release(n: number): void {
    this.#used -= n;
    while (this.#waiters.length > 0 && this.#fits((this.#waiters[0] as { n: number }).n)) {
      const w = this.#waiters.shift() as { n: number; go: () => void };
      this.#used += w.n;
      w.go();
    }
  }

  #fits(n: number): boolean {
    return this.#used === 0 || this.#used + n <= this.limit;
  }
}

/** Maps `items` through `fn` with at most `limit` calls in flight; results keep input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
