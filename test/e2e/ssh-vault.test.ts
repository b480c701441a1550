/**
 * OpenBao on a host reached over ssh (a test sshd on a loopback port; the remote host is this
 * machine), through the CLI: every API request goes through a tunnel run over ssh to the
 * server's address as seen there; backup, wipe, restore and a drill (the scratch node started
 * over there in a `mktemp -d` dir, removed afterwards) with fingerprints equal. An ssh wrapper
 * records every client's argv (which carries the remote command's): the tunnels ran, and
 * neither the token nor the unseal key is in any argv.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { lifeboat, lastJson as last } from '../support/lifeboat-cli.ts';
import type { StackReport as Report } from '../support/lifeboat-cli.ts';
import { pollUntil } from '../support/ports.ts';
import { needBinaries } from '../support/require.ts';
import { missingOpenbao, startOpenbao } from '../support/openbao.ts';
import type { OpenbaoServer } from '../support/openbao.ts';
import { startSshd } from '../support/sshd.ts';
import type { SshServer } from '../support/sshd.ts';
import { tempDir } from '../support/tmp.ts';
import type { TempDir } from '../support/tmp.ts';

const LB_PW = 'ssh-vault-repo-pw-3308';

/** The remote dirs named in the recorded ssh argv (made by mktemp over there; its templates left out). */
const remoteDirs = (argv: string, prefix: string): string[] => [...new Set(argv.match(new RegExp(`/tmp/${prefix}\\.[A-Za-z0-9]+`, 'g')) ?? [])].filter((d) => !/X{6,}$/.test(d));

describe('OpenBao on a host reached over ssh', () => {
  let sshd: SshServer | undefined;
  let bao: OpenbaoServer | undefined;
  let tmp: TempDir;
  let cfg: string;
  let argvLog: string;
  let hostPath: string;

  const run = (args: string[]) => lifeboat(['-c', cfg, ...args], {
    cwd: tmp.path, env: { PATH: hostPath, LB_PW, BAO_TOKEN: (bao as OpenbaoServer).rootToken, BAO_UNSEAL: (bao as OpenbaoServer).unsealKey },
  });
  const canary = async () => (await (bao as OpenbaoServer).api<{ data: { data: Record<string, string> } }>('GET', '/v1/secret/data/lifeboat/canary')).data.data;

  before(async (t) => {
    if (!needBinaries(t as never, 'ssh') || await missingOpenbao()) return;
    sshd = await startSshd(t as never, { path: '/usr/local/bin:/usr/bin:/bin' });
    if (!sshd) return;
    bao = await startOpenbao();
    tmp = await tempDir('ssh-vault');
    const bin = path.join(tmp.path, 'bin');
    await mkdir(bin);
    argvLog = path.join(tmp.path, 'ssh-argv.log');
    await writeFile(path.join(bin, 'ssh'), `#!/bin/sh\nprintf '%s\\n' "$*" >> ${argvLog}\nexec /usr/bin/ssh "$@"\n`);
    await chmod(path.join(bin, 'ssh'), 0o755);
    hostPath = `${bin}:${process.env.PATH ?? ''}`;
    await bao.api('POST', '/v1/sys/mounts/secret', { type: 'kv', options: { version: '2' } });
    await pollUntil(() => (bao as OpenbaoServer).api('POST', '/v1/secret/data/lifeboat/canary', { data: { v: 'one' } }).then(() => true, () => false), { what: 'kv v2 mount ready' });
    await bao.api('PUT', '/v1/sys/policies/acl/app', { policy: 'path "secret/*" { capabilities = ["read"] }' });
    const port = new URL(bao.url).port;
    cfg = path.join(tmp.path, 'lifeboat.yml');
    await writeFile(cfg, `
repository:
  url: ./repo
  password: { env: LB_PW }
state_dir: ./state
sources:
  secrets:
    type: vault
    ssh: { host: ${sshd.host}, port: ${sshd.port}, user: ${sshd.user}, identity_file: ${sshd.identityFile}, known_hosts: ${sshd.knownHosts} }
    url: http://127.0.0.1:${port}
    token: { env: BAO_TOKEN }
    unseal_keys: { env: BAO_UNSEAL }
    canaries: [secret/lifeboat/canary]
    server_bin: ${bao.bin}
`);
  });
  after(async () => {
    await bao?.stop();
    await sshd?.stop();
    await tmp?.cleanup();
  });

  test('backup, wipe, restore and drill over ssh, fingerprints equal, no secret in any argv', async (t) => {
    if (!sshd || !bao) return t.skip('no sshd or OpenBao');
    assert.equal((await run(['init'])).code, 0);
    const b = await run(['backup', '--json']);
    assert.equal(b.code, 0, b.stderr + b.stdout);
    assert.deepEqual(last<Report>(b).sources.map((s) => [s.source, s.status]), [['secrets', 'ok']]);

    await bao.api('POST', '/v1/secret/data/lifeboat/canary', { data: { v: 'wiped' } });
    await bao.api('DELETE', '/v1/sys/policies/acl/app');
    const r = await run(['restore', '--yes', '--no-safety-snapshot', '--json']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.deepEqual(last<Report>(r).sources.map((s) => [s.source, s.status, s.fingerprint_diff]), [['secrets', 'ok', []]]);
    assert.deepEqual(await canary(), { v: 'one' });

    const d = await run(['drill', '--json']);
    assert.equal(d.code, 0, d.stderr + d.stdout);
    assert.deepEqual(last<Report>(d).sources.map((s) => [s.source, s.status, s.cleanup]), [['secrets', 'pass', 'done']]);

    const argv = await readFile(argvLog, 'utf8');
    const made = remoteDirs(argv, 'lifeboat-vault-drill');
    assert.equal(made.length, 1, made.join(' '));
    assert.deepEqual(made.filter((d) => existsSync(d)), [], 'the drill\'s dir was left on the remote host');
    assert.ok(argv.includes(`'tunnel' '127.0.0.1' '${new URL(bao.url).port}'`), 'no tunnel to the server ran over ssh');
    assert.match(argv, /'server' '-config=\/tmp\/lifeboat-vault-drill\./, 'the scratch node did not run over ssh');
    for (const out of [argv, b.stdout + b.stderr, r.stdout + r.stderr, d.stdout + d.stderr]) {
      assert.ok(!out.includes(bao.rootToken) && !out.includes(bao.unsealKey), 'a secret was in argv or printed');
    }
  });
});
