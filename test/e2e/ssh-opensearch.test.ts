/**
 * OpenSearch on a host reached over ssh (a test sshd on a loopback port; the remote host is this
 * machine, the real node of test/support/opensearch.ts on its 127.0.0.1): every REST call goes
 * through a tunnel run over ssh, and the snapshot repository's files are listed, read and written
 * by commands run there; backup, wipe, restore and a drill with fingerprints equal, and nothing
 * left in path.repo. An ssh wrapper records every client's argv: the tunnel and the file
 * commands ran over ssh, and the password is in no argv and nowhere in the output.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { lifeboat, lastJson as last } from '../support/lifeboat-cli.ts';
import type { StackReport as Report } from '../support/lifeboat-cli.ts';
import { needBinaries } from '../support/require.ts';
import { missingOpenSearch, startOpenSearch, type OpenSearchServer } from '../support/opensearch.ts';
import { startSshd } from '../support/sshd.ts';
import type { SshServer } from '../support/sshd.ts';
import { tempDir } from '../support/tmp.ts';
import type { TempDir } from '../support/tmp.ts';

const LB_PW = 'ssh-opensearch-repo-pw-7730';
const OS_PW = 'ssh-opensearch-basic-pw-1e52';

describe('OpenSearch on a host reached over ssh', { skip: missingOpenSearch(), timeout: 900_000 }, () => {
  let sshd: SshServer | undefined;
  let os: OpenSearchServer | undefined;
  let tmp: TempDir;
  let cfg: string;
  let argvLog: string;
  let hostPath: string;

  const run = (args: string[]) => lifeboat(['-c', cfg, ...args], { cwd: tmp.path, env: { PATH: hostPath, LB_PW, OS_PW } });
  const count = async (index: string): Promise<number> => ((await (os as OpenSearchServer).api('GET', `/${index}/_count`)) as { count: number }).count;

  before(async (t) => {
    if (!needBinaries(t as never, 'ssh')) return;
    sshd = await startSshd(t as never, { path: '/usr/local/bin:/usr/bin:/bin' });
    if (!sshd) return;
    os = await startOpenSearch();
    tmp = await tempDir('ssh-opensearch');
    const bin = path.join(tmp.path, 'bin');
    await mkdir(bin);
    argvLog = path.join(tmp.path, 'ssh-argv.log');
    await writeFile(path.join(bin, 'ssh'), `#!/bin/sh\nprintf '%s\\n' "$*" >> ${argvLog}\nexec /usr/bin/ssh "$@"\n`);
    await chmod(path.join(bin, 'ssh'), 0o755);
    hostPath = `${bin}:${process.env.PATH ?? ''}`;
    await os.api('PUT', '/books', { settings: { number_of_shards: 2, number_of_replicas: 0 }, mappings: { properties: { title: { type: 'text' }, year: { type: 'integer' } } } });
    await os.api('PUT', '/logs', { settings: { number_of_replicas: 0 }, mappings: { properties: { msg: { type: 'keyword' } } } });
    const lines: string[] = [];
    for (let i = 0; i < 200; i++) lines.push(JSON.stringify({ index: { _index: 'books', _id: `b${i}` } }), JSON.stringify({ title: `book ${i}`, year: 1900 + (i % 120) }));
    for (let i = 0; i < 30; i++) lines.push(JSON.stringify({ index: { _index: 'logs' } }), JSON.stringify({ msg: `line ${i}` }));
    await os.api('POST', '/_bulk?refresh=true', `${lines.join('\n')}\n`);
    cfg = path.join(tmp.path, 'lifeboat.yml');
    await writeFile(cfg, `
repository:
  url: ./repo
  password: { env: LB_PW }
state_dir: ./state
sources:
  search:
    type: opensearch
    ssh: { host: ${sshd.host}, port: ${sshd.port}, user: ${sshd.user}, identity_file: ${sshd.identityFile}, known_hosts: ${sshd.knownHosts} }
    url: ${os.url}
    username: admin
    password: { env: OS_PW }
    snapshot_dir: ${os.repoDir}
    indices: [books, logs]
`);
  }, { timeout: 900_000 });
  after(async () => {
    await os?.stop();
    await sshd?.stop();
    await tmp?.cleanup();
  });

  test('backup, wipe, restore and drill over ssh, fingerprints equal, nothing left in path.repo', async (t) => {
    if (!sshd || !os) return t.skip('no sshd');
    assert.equal((await run(['init'])).code, 0);
    const b = await run(['backup', '--json']);
    assert.equal(b.code, 0, b.stderr + b.stdout);
    assert.deepEqual(last<Report>(b).sources.map((s) => [s.source, s.status]), [['search', 'ok']]);
    assert.deepEqual(await readdir(os.repoDir), [], 'the snapshot repository was left in path.repo');

    await os.api('DELETE', '/logs');
    await os.api('DELETE', '/books/_doc/b7?refresh=true');
    const r = await run(['restore', '--yes', '--no-safety-snapshot', '--json']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.deepEqual(last<Report>(r).sources.map((s) => [s.source, s.status, s.fingerprint_diff]), [['search', 'ok', []]]);
    assert.deepEqual([await count('books'), await count('logs')], [200, 30]);

    const d = await run(['drill', '--json']);
    assert.equal(d.code, 0, d.stderr + d.stdout);
    assert.deepEqual(last<Report>(d).sources.map((s) => [s.source, s.status, s.cleanup]), [['search', 'pass', 'done']]);
    assert.deepEqual(await readdir(os.repoDir), [], 'a restore or drill left its repository in path.repo');
    const indices = Object.keys(await os.api('GET', '/_all/_settings?expand_wildcards=all&filter_path=*.settings.index.uuid') as object).filter((i) => !i.startsWith('.'));
    assert.deepEqual(indices.sort(), ['books', 'logs'], 'the drill\'s indices were left on the cluster');

    const argv = await readFile(argvLog, 'utf8');
    assert.ok(argv.includes(`'tunnel' '127.0.0.1' '${new URL(os.url).port}'`), 'no tunnel to the cluster ran over ssh');
    assert.ok(argv.includes(`'cat' '--' '${os.repoDir}/lifeboat-`), 'the repository files were not read over ssh');
    assert.match(argv, /set -C && cat > /, 'the repository files were not written over ssh');
    for (const out of [argv, b.stdout + b.stderr, r.stdout + r.stderr, d.stdout + d.stderr]) {
      assert.ok(!out.includes(OS_PW) && !out.includes(Buffer.from(`admin:${OS_PW}`).toString('base64')), 'the password was in argv or printed');
    }
  });
});
