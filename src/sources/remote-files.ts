/**
 * File steps where a store runs, for the sources whose runner's commands run elsewhere (a
 * container, an ssh host: they stage files; victoriametrics, opensearch): the same steps as on
 * this host, each a small command there. A snapshot's files are listed with `find -L` (through its symlinks, as the
 * local walk) and each is read with `cat`; a restore writes each file with `cat` into a
 * `mktemp -d` staging dir beside data_dir and swaps it in with `mv`, so a failed write leaves
 * the old data in place. No file passes through this host's disk.
 */
import type { CommandRunner } from '../core/command-runner.ts';
import { SourceError } from '../core/errors.ts';
import { collect, guardedOutput, succeeded } from './process-kit.ts';
import type { Finished } from './process-kit.ts';

const lastLine = (f: Finished): string => f.stderr.trim().split('\n').at(-1) || (f.signal ?? `exit ${f.code}`);

export class RemoteFiles {
  readonly #runner: CommandRunner;
  readonly #what: string;
  readonly #signal: AbortSignal;

  constructor(runner: CommandRunner, what: string, signal: AbortSignal) {
    this.#runner = runner;
    this.#what = what;
    this.#signal = signal;
  }

  async #sh(script: string, args: string[], input: string | AsyncIterable<Uint8Array> = ''): Promise<string> {
    const r = await collect(this.#runner, { command: 'sh', args: ['-c', script, 'sh', ...args], signal: this.#signal }, input);
    if (!succeeded(r)) throw new SourceError(`${this.#what}: ${lastLine(r)}`);
    return r.stdout;
  }

  /** Files below `dir`, following symlinks, relative to it, sorted (names with a newline are refused). */
  async walk(dir: string): Promise<string[]> {
    const out = await this.#sh('cd "$1" && find -L . -type f | LC_ALL=C sort', [dir]).catch((err: unknown) => {
      throw new SourceError(`${this.#what}: cannot list ${dir}: ${(err as Error).message}`, { hint: 'data_dir must be the server\'s -storageDataPath as seen where it runs' });
    });
    return out.split('\n').filter((n) => n !== '').map((n) => n.replace(/^\.\//, ''));
  }

  /** A file's bytes as a stream that fails when `cat` did. */
  read(file: string): AsyncIterable<Uint8Array> {
    const cmd = this.#runner.start({ command: 'cat', args: ['--', file], signal: this.#signal });
    cmd.stdin.end();
    return guardedOutput(cmd, (fin) => (succeeded(fin) ? undefined : new SourceError(`${this.#what}: cannot read ${file}: ${lastLine(fin)}`)));
  }

  /** A fresh empty dir (mktemp -d) in `parent` (created if missing), named `prefix` and a random tail. */
  async mkdtemp(parent: string, prefix: string): Promise<string> {
    const dir = (await this.#sh('mkdir -p -- "$1" && mktemp -d "$1/$2XXXXXX"', [parent, prefix])).trim();
    if (!dir.startsWith(`${parent}/`)) throw new SourceError(`${this.#what}: mktemp in ${parent} answered ${JSON.stringify(dir)}`);
    return dir;
  }

  /** Writes a new file (never over an existing one), its dirs created. */
  async write(file: string, data: AsyncIterable<Uint8Array>): Promise<void> {
    await this.#sh('mkdir -p -- "$(dirname -- "$1")" && set -C && cat > "$1"', [file], data);
  }

  /** Puts `staging` in place of `dir` (the old one removed after), by rename. */
  async swap(staging: string, dir: string): Promise<void> {
    await this.#sh('set -e; if [ -e "$2" ]; then mv -- "$2" "$1.old"; fi; mv -- "$1" "$2"; rm -rf -- "$1.old"', [staging, dir]);
  }

  async remove(dir: string): Promise<void> {
    await this.#sh('rm -rf -- "$1"', [dir]);
  }

  /** As root, hands `dir` and everything below it to the owner of `like` (the store's user). */
  async ownLike(dir: string, like: string): Promise<void> {
    await this.#sh('if [ "$(id -u)" = 0 ]; then chown -R --reference="$2" -- "$1"; fi', [dir, like]);
  }
}
