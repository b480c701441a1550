/**
 * `lifeboat ls latest | head` and `lifeboat dump … | head -c`: a reader that goes away ends
 * the command quietly with 141 (128 + SIGPIPE, what a shell reports for restic), never with
 * an EPIPE stack trace.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { LIFEBOAT_BIN, lifeboat } from '../support/lifeboat-cli.ts';
import { tempDir } from '../support/tmp.ts';
import type { TempDir } from '../support/tmp.ts';

const PW = 'pipe-pw';

describe('a reader that goes away', () => {
  let tmp: TempDir;
  let repo: string;
  let src: string;
  /** Runs `lifeboat ARGS | READER` in bash; returns lifeboat's exit status and its stderr. */
  const piped = (args: string, reader: string): { status: number; stderr: string } => {
    const script = `"${process.execPath}" "${LIFEBOAT_BIN}" -r "${repo}" ${args} 2>"${tmp.path}/err" | ${reader} >/dev/null; s=\${PIPESTATUS[0]}; cat "${tmp.path}/err" >&2; exit $s`;
    const r = spawnSync('bash', ['-c', script], { env: { PATH: process.env.PATH, HOME: tmp.path, LIFEBOAT_PASSWORD: PW }, encoding: 'utf8' });
    return { status: r.status ?? -1, stderr: r.stderr };
  };

  before(async () => {
    tmp = await tempDir('pipe');
    repo = path.join(tmp.path, 'repo');
    src = path.join(tmp.path, 'src');
    await mkdir(src);
    // More listing than a pipe buffers (64 KiB), and a file larger than it.
    for (let i = 0; i < 2500; i++) await writeFile(path.join(src, `a-file-with-a-rather-long-name-${i}.txt`), `${i}\n`);
    await writeFile(path.join(src, 'big.bin'), randomBytes(2 << 20));
    assert.equal((await lifeboat(['-r', repo, 'init'], { password: PW })).code, 0);
    assert.equal((await lifeboat(['-r', repo, 'backup', src], { password: PW })).code, 0);
  });
  after(() => tmp.cleanup());

  test('ls | head ends quietly with 141', () => {
    const r = piped('ls latest', 'head -n 1');
    assert.equal(r.status, 141, r.stderr);
    assert.doesNotMatch(r.stderr, /EPIPE|Unhandled|at /);
  });

  test('dump | head -c ends quietly with 141', () => {
    const r = piped(`dump latest "${src}/big.bin"`, 'head -c 10');
    assert.equal(r.status, 141, r.stderr);
    assert.doesNotMatch(r.stderr, /EPIPE|Unhandled|at /);
  });
});
