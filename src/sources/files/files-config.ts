/** lifeboat.yml keys of a `type: files` source. */
import path from 'node:path';
import { z } from 'zod';

const absolutePath = z.string().min(1).refine((p) => path.isAbsolute(p), {
  error: 'must be an absolute path (a restore recreates it, or recreates it under `to:`)',
});

export const filesKeys = {
  /** Files or directories: Docker volume dirs, index folders, configs, .env files. */
  paths: z.array(absolutePath).min(1, { error: 'paths: list at least one file or directory' }),
  /** Globs of what to leave out, matched against the absolute path and against the base name. */
  exclude: z.array(z.string().min(1)).optional(),
  /** If given, only files matching one of these globs are kept; directories are always walked. */
  include: z.array(z.string().min(1)).optional(),
  /**
   * The format of index files among the paths: `faiss` makes backup, verify and drills parse
   * each one (header, `ntotal`, exact size of flat indexes) and implies `stable_copy`.
   */
  format: z.enum(['faiss']).optional(),
  /** Which files are index files (globs on the base name or absolute path); default *.faiss, *.index. */
  format_files: z.array(z.string().min(1)).min(1).optional(),
  /**
   * Copy again until no entry changed while it was read (lstat before and after, up to three
   * copies), for files written in place; a stop hook (backup.hooks.before) is better still.
   */
  stable_copy: z.boolean().optional(),
};

export const filesConfigSchema = z.strictObject(filesKeys);
export type FilesConfig = z.infer<typeof filesConfigSchema>;
