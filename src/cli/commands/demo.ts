/**
 * `lifeboat demo`: the whole job on throwaway data, no set-up needed. Creates a scratch
 * directory with a repository and a generated folder (configs, a SQL dump, a binary index
 * file, a symlink), backs it up, changes a little, backs up again (showing dedup), restores
 * into a fresh folder and compares every byte. Everything lives under one temp dir, removed
 * at the end unless --keep.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, mkdir, readdir, readFile, rm, symlink, writeFile, appendFile, lstat, readlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { IntegrityError } from '../../core/errors.ts';
import { Repository } from '../../repo/repository.ts';
import { createLocalStorage } from '../../storage/local/local-storage.ts';
import { Archiver } from '../../repo/archiver/archiver.ts';
import { Restorer } from '../../repo/restorer.ts';
import { listSnapshots } from '../../repo/snapshot/snapshot.ts';
import { VERSION } from '../../version.ts';
import { formatBytes, formatDuration } from '../output.ts';

async function generate(dir: string): Promise<void> {
  await mkdir(path.join(dir, 'configs'), { recursive: true });
  await mkdir(path.join(dir, 'dumps'), { recursive: true });
  await mkdir(path.join(dir, 'faiss_index'), { recursive: true });
  await writeFile(path.join(dir, 'configs', 'app.toml'), '[server]\nport = 8080\nworkers = 4\n');
  await writeFile(path.join(dir, '.env'), 'APP_MODE=production\n', { mode: 0o600 });
  const rows: string[] = ['CREATE TABLE orders (id int primary key, customer text, total numeric);'];
  for (let i = 0; i < 60000; i++) rows.push(`INSERT INTO orders VALUES (${i}, 'customer-${i % 997}', ${(i * 7.31) % 1000});`);
  await writeFile(path.join(dir, 'dumps', 'shop.sql'), rows.join('\n') + '\n');
  await writeFile(path.join(dir, 'faiss_index', 'index.faiss'), randomBytes(3 * 1024 * 1024));
  await writeFile(path.join(dir, 'empty.txt'), '');
  await symlink('configs/app.toml', path.join(dir, 'current.toml'));
}

/** path → sha256 (files) or link target (symlinks), relative to `root`. */
async function fingerprint(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (dir: string): Promise<void> => {
    for (const name of (await readdir(dir)).sort()) {
      const p = path.join(dir, name);
      const st = await lstat(p);
      const rel = path.relative(root, p);
      if (st.isDirectory()) await walk(p);
      else if (st.isSymbolicLink()) out.set(rel, `-> ${await readlink(p)}`);
      else out.set(rel, createHash('sha256').update(await readFile(p)).digest('hex'));
    }
  };
  await walk(root);
  return out;
}

export function registerDemo(program: Command, ctx: CliContext): void {
  program
    .command('demo')
    .description('back up, change, back up and restore a generated folder in a throwaway repository')
    .option('--keep', 'keep the scratch directory and print where it is')
    .action(async (flags: { keep?: boolean }) => {
      const out = ctx.out;
      const scratch = await mkdtemp(path.join(os.tmpdir(), 'lifeboat-demo-'));
      const steps: Array<{ step: string; result: string; ms: number }> = [];
      const step = async <T>(name: string, fn: () => Promise<T>, describe: (v: T) => string): Promise<T> => {
        const t0 = Date.now();
        out.progress(`${name}…`);
        const v = await fn();
        const ms = Date.now() - t0;
        steps.push({ step: name, result: describe(v), ms });
        out.clearProgress();
        out.line(`✔ ${name.padEnd(28)} ${describe(v)}  (${formatDuration(ms)})`);
        return v;
      };
      try {
        out.line(`lifeboat ${VERSION} demo in ${scratch}`);
        const data = path.join(scratch, 'stack-data');
        const repoDir = path.join(scratch, 'repository');
        await step('generate sample data', () => generate(data), () => 'configs, .env, SQL dump, FAISS index, symlink');
        // A demo password: the demo repository is thrown away at the end.
        const password = randomBytes(12).toString('base64url');
        const storage = createLocalStorage(repoDir);
        const repo = await step('init repository', () => Repository.init(storage, password, { scrypt: { N: 4096, r: 8, p: 1 } }), (r) => `restic format v${r.config.version} at ${repoDir}`);
        const backup = async (parentId?: string) => {
          const a = new Archiver(repo, { signal: ctx.signal });
          const parent = parentId ? (await listSnapshots(repo)).find((s) => s.id === parentId) : undefined;
          const tree = await a.saveTargets([data], parent);
          const id = await a.finish(tree, [data], { tags: ['demo'], parent: parentId, programVersion: `lifeboat ${VERSION}` });
          return { id, s: a.summary };
        };
        const first = await step('first backup', () => backup(), (r) => `snapshot ${r.id.slice(0, 8)}: ${r.s.totalFiles} files, ${formatBytes(r.s.totalBytes)} read, ${formatBytes(r.s.bytesAdded)} stored`);
        await appendFile(path.join(data, 'dumps', 'shop.sql'), "INSERT INTO orders VALUES (60000, 'late-order', 1.5);\n");
        const second = await step('change one row, back up', () => backup(first.id), (r) => `snapshot ${r.id.slice(0, 8)}: ${r.s.filesChanged} changed, ${r.s.filesUnmodified} unmodified, ${formatBytes(r.s.bytesAdded)} stored`);
        const target = path.join(scratch, 'restored');
        const snap = (await listSnapshots(repo)).find((s) => s.id === second.id);
        if (!snap) throw new IntegrityError(`snapshot ${second.id} vanished`);
        const restored = await step('restore latest snapshot', () => new Restorer(repo, { signal: ctx.signal }).restore(snap, target), (r) => `${r.files} files, ${formatBytes(r.bytes)}${r.errors.length > 0 ? `, ${r.errors.length} errors` : ''}`);
        const compare = await step('compare every byte', async () => {
          const a = await fingerprint(data);
          const b = await fingerprint(path.join(target, data));
          const diffs = [...new Set([...a.keys(), ...b.keys()])].filter((k) => a.get(k) !== b.get(k));
          return { files: a.size, diffs };
        }, (r) => (r.diffs.length === 0 ? `${r.files} entries identical` : `${r.diffs.length} differ: ${r.diffs.join(', ')}`));
        await repo.storage.close();
        out.result({ scratch, steps, snapshots: [first.id, second.id], restore_errors: restored.errors, differences: compare.diffs, ok: compare.diffs.length === 0 && restored.errors.length === 0 });
        if (compare.diffs.length > 0 || restored.errors.length > 0) {
          throw new IntegrityError(`demo restore differs from the original (${compare.diffs.length} files, ${restored.errors.length} errors)`);
        }
        out.line('');
        out.line('The second backup stored only the changed chunk: content-defined chunking + dedup.');
        out.line(`The repository is readable by restic too: RESTIC_PASSWORD=… restic -r ${repoDir} snapshots`);
      } finally {
        if (flags.keep) out.line(`kept ${scratch}`);
        else await rm(scratch, { recursive: true, force: true });
      }
    });
}
