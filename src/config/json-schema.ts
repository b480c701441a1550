/**
 * lifeboat.yml as a JSON Schema (draft 2020-12), for editors: with a modeline
 * `# yaml-language-server: $schema=…/lifeboat.schema.json` a YAML editor completes keys and
 * flags mistakes as they are typed. docs/lifeboat.schema.json is generated from this by
 * json-schema.test.ts, which fails when the committed file is stale.
 */
import { z } from 'zod';
import { buildConfigSchema } from './schema.ts';
import type { SourceTypes } from './schema.ts';

export function configJsonSchema(types?: SourceTypes): Record<string, unknown> {
  // io "input": what a user may write (concurrency is optional there, defaulted when parsed).
  const schema = z.toJSONSchema(buildConfigSchema(types), { target: 'draft-2020-12', io: 'input', unrepresentable: 'any' });
  return { $schema: schema.$schema, title: 'lifeboat.yml', ...schema };
}
