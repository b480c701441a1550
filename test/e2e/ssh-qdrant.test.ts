/**
 * Qdrant on a host reached over ssh (a test sshd on a loopback port; the remote host is this
 * machine, the server the protocol double on its 127.0.0.1): every REST call goes through a
 * tunnel run over ssh; backup, wipe, restore and a drill (scratch collections removed
 * afterwards) with fingerprints equal. An ssh wrapper records every client's argv: the tunnel
 * ran, and the api-key is in no argv and nowhere in the output.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { lifeboat, lastJson as last } from '../support/lifeboat-cli.ts';
import type { StackReport as Report } from '../support/lifeboat-cli.ts';
import { needBinaries } from '../support/require.ts';
import { startQdrantDouble, type DoublePoint, type QdrantDouble } from '../support/qdrant-double.ts';
import { startSshd } from '../support/sshd.ts';
import type { SshServer } from '../support/sshd.ts';
import { tempDir } from '../support/tmp.ts';
import type { TempDir } from '../support/tmp.ts';

const LB_PW = 'ssh-qdrant-repo-pw-5521';
const KEY = 'ssh-qdrant-api-key-90d1';

describe('Qdrant on a host reached over ssh', () => {
  let sshd: SshServer | undefined;
  let q: QdrantDouble | undefined;
  let tmp: TempDir;
  let cfg: string;
  let argvLog: string;
  let hostPath: string;

  const run = (args: string[]) => lifeboat(['-c', cfg, ...args], { cwd: tmp.path, env: { PATH: hostPath, LB_PW, QDRANT_KEY: KEY } });
  const api = async (method: string, p: string, body?: unknown): Promise<void> => {
    const res = await fetch(`${(q as QdrantDouble).url}${p}`, { method, headers: { 'api-key': KEY, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    assert.equal(res.status, 200, await res.text());
  };

  before(async (t) => {
    if (!needBinaries(t as never, 'ssh')) return;
    sshd = await startSshd(t as never, { path: '/usr/local/bin:/usr/bin:/bin' });
    if (!sshd) return;
    q = await startQdrantDouble({ apiKey: KEY });
    tmp = await tempDir('ssh-qdrant');
    const bin = path.join(tmp.path, 'bin');
    await mkdir(bin);
    argvLog = path.join(tmp.path, 'ssh-argv.log');
    await writeFile(path.join(bin, 'ssh'), `#!/bin/sh\nprintf '%s\\n' "$*" >> ${argvLog}\nexec /usr/bin/ssh "$@"\n`);
    await chmod(path.join(bin, 'ssh'), 0o755);
    hostPath = `${bin}:${process.env.PATH ?? ''}`;
    const points = (n: number): DoublePoint[] => Array.from({ length: n }, (_, i) => ({ id: i + 1, vector: [i / 10, 1, 0.5], payload: { doc: `d${i}` } }));
    await api('PUT', '/collections/docs', { vectors: { size: 3, distance: 'Cosine' } });
    await api('PUT', '/collections/docs/points', { points: points(40) });
    cfg = path.join(tmp.path, 'lifeboat.yml');
    await writeFile(cfg, `
repository:
  url: ./repo
  password: { env: LB_PW }
state_dir: ./state
sources:
  vectors:
    type: qdrant
    ssh: { host: ${sshd.host}, port: ${sshd.port}, user: ${sshd.user}, identity_file: ${sshd.identityFile}, known_hosts: ${sshd.knownHosts} }
    url: ${q.url}
    api_key: { env: QDRANT_KEY }
`);
  });
  after(async () => {
    await q?.close();
    await sshd?.stop();
    await tmp?.cleanup();
  });

  test('backup, wipe, restore and drill over ssh, fingerprints equal, the api-key in no argv', async (t) => {
    if (!sshd || !q) return t.skip('no sshd');
    assert.equal((await run(['init'])).code, 0);
    const b = await run(['backup', '--json']);
    assert.equal(b.code, 0, b.stderr + b.stdout);
    assert.deepEqual(last<Report>(b).sources.map((s) => [s.source, s.status]), [['vectors', 'ok']]);
    assert.equal(q.snapshots.get('docs')?.size ?? 0, 0, 'the server-side snapshot was left behind');

    await api('DELETE', '/collections/docs');
    assert.equal(q.collections.has('docs'), false);
    const r = await run(['restore', '--yes', '--no-safety-snapshot', '--json']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.deepEqual(last<Report>(r).sources.map((s) => [s.source, s.status, s.fingerprint_diff]), [['vectors', 'ok', []]]);
    assert.equal(q.collections.get('docs')?.points.size, 40);

    const d = await run(['drill', '--json']);
    assert.equal(d.code, 0, d.stderr + d.stdout);
    assert.deepEqual(last<Report>(d).sources.map((s) => [s.source, s.status, s.cleanup]), [['vectors', 'pass', 'done']]);
    assert.deepEqual([...q.collections.keys()], ['docs'], 'the drill\'s collections were left on the server');

    const argv = await readFile(argvLog, 'utf8');
    assert.ok(argv.includes(`'tunnel' '127.0.0.1' '${new URL(q.url).port}'`), 'no tunnel to the server ran over ssh');
    for (const out of [argv, b.stdout + b.stderr, r.stdout + r.stderr, d.stdout + d.stderr]) assert.ok(!out.includes(KEY), 'the api-key was in argv or printed');
  });
});
