/**
 * The README's own `command` source (n8n through `docker exec`) passes backup, drill and
 * restore, with a stand-in `docker` on PATH that behaves like `docker exec n8n n8n
 * export:workflow --all --output=/dev/stdout` and `docker exec -i n8n n8n import:workflow
 * --input=/dev/stdin` against a file. A failing producer in a pipeline fails the backup
 * (pipefail), and an export that prints nothing is not taken for a backup.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { lifeboat } from '../support/lifeboat-cli.ts';
import type { CliResult } from '../support/lifeboat-cli.ts';
import { tempDir } from '../support/tmp.ts';
import type { TempDir } from '../support/tmp.ts';

const LB_PW = 'readme-command-pw';

/** `docker exec [-i] n8n n8n export:workflow|import:workflow …` on $N8N_STORE. */
const FAKE_DOCKER = `#!/bin/sh
[ "$1" = exec ] || { echo "fake docker: only exec" >&2; exit 2; }
shift
[ "$1" = -i ] && shift
[ "$1" = n8n ] && [ "$2" = n8n ] || { echo "Error: No such container: $1" >&2; exit 1; }
case "$3" in
  export:workflow) [ -s "$N8N_STORE" ] || exit 0; cat "$N8N_STORE" ;;
  import:workflow) cat > "$N8N_STORE.import" && mv "$N8N_STORE.import" "$N8N_STORE" ;;
  *) echo "unknown n8n command $3" >&2; exit 1 ;;
esac
`;

const json = <T>(r: CliResult): T => JSON.parse(r.stdout.trim().split('\n').at(-1) as string) as T;

describe("the README's command source example", () => {
  let tmp: TempDir;
  let cfg: string;
  let env: NodeJS.ProcessEnv;
  const store = (): string => path.join(tmp.path, 'n8n-workflows.json');
  const run = (args: string[]) => lifeboat(['-c', cfg, ...args], { env, cwd: tmp.path });

  before(async () => {
    tmp = await tempDir('readme-command');
    await mkdir(path.join(tmp.path, 'bin'));
    await writeFile(path.join(tmp.path, 'bin', 'docker'), FAKE_DOCKER);
    await chmod(path.join(tmp.path, 'bin', 'docker'), 0o755);
    await writeFile(store(), JSON.stringify([{ id: 1, name: 'nightly report', nodes: [] }]) + '\n');
    const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
    // The n8n source exactly as the README shows it (but its depends_on: the example's postgres is not here).
    const n8n = /^ {2}n8n:\n(?: {4}.*\n)+/m.exec(readme)?.[0];
    assert.ok(n8n, 'the README has no n8n command source any more');
    cfg = path.join(tmp.path, 'lifeboat.yml');
    await writeFile(cfg, `repository: { url: ./repo, password: { env: LB_PW } }\nstate_dir: ./state\nsources:\n${n8n.replace(/^ {4}depends_on:.*\n/m, '')}`);
    env = { LB_PW, N8N_STORE: store(), PATH: `${path.join(tmp.path, 'bin')}:${process.env.PATH}` };
    assert.equal((await run(['init'])).code, 0);
  });
  after(async () => {
    await tmp?.cleanup();
  });

  test('backs up, drills (read-only: the commands act on the live container) and restores', async () => {
    const b = await run(['backup', '--json']);
    assert.equal(b.code, 0, b.stderr + b.stdout);
    const live = await readFile(store(), 'utf8');
    const d = await run(['drill', '--json']);
    assert.equal(d.code, 0, d.stderr + d.stdout);
    const drill = json<{ status: string; sources: Array<{ status: string; mode?: string; note?: string }> }>(d);
    assert.equal(drill.status, 'pass');
    assert.equal(drill.sources[0]?.mode, 'read');
    assert.equal(await readFile(store(), 'utf8'), live, 'the drill touched the live store');
    assert.deepEqual(await readdir(path.join(tmp.path, 'state', 'tmp')), []);

    await writeFile(store(), '[]\n');
    const r = await run(['restore', '--yes', '--json']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.equal(await readFile(store(), 'utf8'), live);
  });

  test('an export that prints nothing is a failed backup, not an empty snapshot', async () => {
    await writeFile(store(), '');
    const b = await run(['backup']);
    assert.equal(b.code, 1, b.stderr + b.stdout);
    assert.match(b.stderr + b.stdout, /backup_command exited with code 0 but printed nothing/);
    assert.match(b.stderr + b.stdout, /allow_empty: true/);
  });
});
