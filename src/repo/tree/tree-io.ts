/** Loading and saving tree blobs, with a small cache of decoded trees for walks. */
import type { Repository } from '../repository.ts';
import { decodeTree, encodeTree } from './node.ts';
import type { Tree } from './node.ts';
import { idOf } from '../../core/ids.ts';
import type { CallOptions } from '../../storage/storage.ts';

export class TreeStore {
  readonly #repo: Repository;
  readonly #cache = new Map<string, Tree>();
  readonly #max: number;

  constructor(repo: Repository, cacheSize = 256) {
    this.#repo = repo;
    this.#max = cacheSize;
  }

  async load(id: string, opts: CallOptions = {}): Promise<Tree> {
    const hit = this.#cache.get(id);
    if (hit) return hit;
    const tree = decodeTree(await this.#repo.loadBlob('tree', id, opts), `tree ${id}`);
    if (this.#cache.size >= this.#max) this.#cache.delete(this.#cache.keys().next().value as string);
    this.#cache.set(id, tree);
    return tree;
  }

  /** Saves a tree (deduplicated) and returns its ID. */
  async save(tree: Tree): Promise<string> {
    const bytes = encodeTree(tree);
    const id = idOf(bytes);
    await this.#repo.saveBlob('tree', bytes, id);
    return id;
  }
}
