/**
 * Stand-in source types for the config tests: the shapes of real adapters' keys (a database
 * with a connection and a secret, a URL with a secret, paths), without the adapters, so the
 * config code is tested on its own.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { registerSourceType, secretRefSchema } from '../sources/source-kit.ts';
import type { RegisteredSourceType } from '../sources/source-kit.ts';
import type { SourceTypes } from './schema.ts';

function fake(type: string, keys: z.ZodRawShape, pathKeys?: readonly string[]): RegisteredSourceType {
  return registerSourceType({
    type,
    pathKeys,
    description: `fake ${type} source`,
    keys,
    create: () => {
      throw new Error(`the fake ${type} type creates no source`);
    },
  });
}

export const fakeTypes: SourceTypes = new Map([
  fake('postgres', {
    connection: z.strictObject({
      host: z.string(),
      port: z.int().optional(),
      user: z.string().optional(),
      password: secretRefSchema.optional(),
    }),
    databases: z.union([z.literal('all'), z.array(z.string())]).optional(),
  }),
  fake('redis', { url: z.string(), password: secretRefSchema.optional() }),
  // Like the real files type, insists on absolute paths: the loader resolves them first.
  fake('files', { paths: z.array(z.string().refine((p) => path.isAbsolute(p), { error: 'an absolute path' })).min(1), exclude: z.array(z.string()).optional() }, ['paths', 'restore.to']),
  fake('sqlite', { path: z.string() }, ['path', 'restore.to']),
].map((t) => [t.type, t]));

/** Writes `text` as lifeboat.yml in `dir` and returns its path. */
export async function writeConfig(dir: string, text: string, name = 'lifeboat.yml'): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, text);
  return file;
}

/** The 1-based line of `text` that contains `needle` (its first occurrence). */
export function lineWith(text: string, needle: string): number {
  const at = text.indexOf(needle);
  if (at < 0) throw new Error(`fixture has no ${JSON.stringify(needle)}`);
  return text.slice(0, at).split('\n').length;
}
