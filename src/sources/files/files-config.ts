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
};

export const filesConfigSchema = z.strictObject(filesKeys);
export type FilesConfig = z.infer<typeof filesConfigSchema>;
