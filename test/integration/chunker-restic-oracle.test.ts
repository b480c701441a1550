/**
 * The oracle: restic itself chunks a file, and our chunkStream must produce the same blobs,
 * in the same order, with the repository's polynomial. Needs the restic CLI; skipped without
 * it unless REQUIRE_SERVERS=1.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chunkStream } from '../../src/repo/chunker/chunk-stream.ts';
import { MAX_SIZE } from '../../src/repo/chunker/chunker.ts';

const MiB = 1024 * 1024;
const haveRestic = spawnSync('restic', ['version'], { stdio: 'ignore' }).status === 0;
const required = process.env.REQUIRE_SERVERS === '1';

function pseudoRandom(size: number, seed: number): Uint8Array {
  const words = new Uint32Array(Math.ceil(size / 4));
  let x = seed >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  return new Uint8Array(words.buffer, 0, size);
}

/**
 * ~24 MiB: random, a repeated random region, a zero run (cuts at exactly MIN_SIZE), and a run
 * of one repeated byte whose constant fingerprint almost surely never matches (a MAX_SIZE cut).
 */
function testFile(): Buffer {
  const random = pseudoRandom(9 * MiB, 0x5eed);
  const constant = Buffer.alloc(MAX_SIZE + MiB, 0xa5);
  return Buffer.concat([random, random.subarray(2 * MiB, 5 * MiB), Buffer.alloc(1536 * 1024), constant, pseudoRandom(1234567, 3)]);
}

function restic(env: NodeJS.ProcessEnv, args: string[], stdinFile?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('restic', args, { env, stdio: [stdinFile ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (d: Buffer) => out.push(d));
    child.stderr?.on('data', (d: Buffer) => err.push(d));
    if (stdinFile) createReadStream(stdinFile).pipe(child.stdin!);
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out).toString('utf8'));
      else reject(new Error(`restic ${args[0]} ${args[1] ?? ''} exited ${code}: ${Buffer.concat(err).toString('utf8')}`));
    });
  });
}

test('chunkStream cuts exactly the blobs restic cuts', { skip: !haveRestic && !required ? 'restic CLI not on PATH' : false }, async () => {
  assert.ok(haveRestic, 'REQUIRE_SERVERS=1 but the restic CLI is not on PATH');
  const dir = mkdtempSync(join(tmpdir(), 'lifeboat-chunker-'));
  try {
    const repo = join(dir, 'repo');
    const file = join(dir, 'f.bin');
    const data = testFile();
    writeFileSync(file, data);
    const env = { ...process.env, RESTIC_PASSWORD: 'chunker-oracle', RESTIC_CACHE_DIR: join(dir, 'cache') };

    await restic(env, ['init', '--repository-version', '2', '-r', repo, '-q']);
    const config = JSON.parse(await restic(env, ['-r', repo, 'cat', 'config'])) as { chunker_polynomial: string };
    await restic(env, ['-r', repo, 'backup', '-q', '--stdin', '--stdin-filename', 'f.bin'], file);
    const snapshots = JSON.parse(await restic(env, ['-r', repo, 'snapshots', '--json'])) as { tree: string }[];
    assert.equal(snapshots.length, 1);
    const tree = JSON.parse(await restic(env, ['-r', repo, 'cat', 'blob', snapshots[0].tree])) as {
      nodes: { name: string; content: string[] }[];
    };
    const node = tree.nodes.find((n) => n.name === 'f.bin');
    assert.ok(node, 'restic tree has the file');

    const ours: string[] = [];
    const sizes: number[] = [];
    for await (const chunk of chunkStream(createReadStream(file, { highWaterMark: 100_003 }), config.chunker_polynomial)) {
      ours.push(createHash('sha256').update(chunk).digest('hex'));
      sizes.push(chunk.length);
    }
    assert.deepEqual(ours, node.content);
    assert.ok(sizes.includes(MAX_SIZE), 'the data forced a MAX_SIZE cut');
    assert.equal(sizes.reduce((a, b) => a + b, 0), data.length);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
