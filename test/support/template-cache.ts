/**
 * Initialised-once data directories. initdb and mariadb-install-db take most of a database
 * server's start-up time, and their output does not depend on the test, so each test process
 * runs them once into a template and copies the template for every further server.
 *
 * `cp -a` rather than fs.cp: it keeps ownership, which matters when the template belongs to
 * the unprivileged PostgreSQL user and the copy is made as root.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { register } from './cleanup.ts';
import { runCommandOk } from './run-command.ts';

const templates = new Map<string, Promise<string>>();

/**
 * The path of the template `key`, built by `build(dir)` on first use (into an empty dir that
 * is removed when the process exits). A failed build is not cached, so the next call retries.
 */
export function cachedTemplate(key: string, build: (dir: string) => Promise<void>): Promise<string> {
  let template = templates.get(key);
  if (template === undefined) {
    template = (async () => {
      const root = await mkdtemp(join(tmpdir(), `lifeboat-template-${key}-`));
      register({ label: `${key} template ${root}`, dir: root });
      const dir = join(root, 'data');
      await build(dir);
      return dir;
    })();
    template.catch(() => templates.delete(key));
    templates.set(key, template);
  }
  return template;
}

/** Copies a template to `dest` (which must not exist), keeping modes and ownership. */
export async function copyTemplate(template: string, dest: string): Promise<void> {
  await runCommandOk('cp', ['-a', template, dest]);
}
