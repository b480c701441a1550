/**
 * VictoriaMetrics on a host reached over ssh (a test sshd on a loopback port; the remote host
 * is this machine), through the CLI: API requests through a tunnel run over ssh; the
 * snapshot's files listed (`find -L`) and read (`cat`) there; the restore stops the server
 * with stop_command over there, writes the files into a staging dir beside data_dir there and
 * swaps it in, starts it again; a drill restores into a `mktemp -d` dir there and fingerprints
 * it on a scratch server started there, removed afterwards. Fingerprints equal. An ssh wrapper
 * records every client's argv (which carries the remote command's).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { lifeboat, lastJson as last } from '../support/lifeboat-cli.ts';
import type { StackReport as Report } from '../support/lifeboat-cli.ts';
import { freePort, pollUntil } from '../support/ports.ts';
import { needBinaries } from '../support/require.ts';
import { runCommand } from '../support/run-command.ts';
import { startSshd } from '../support/sshd.ts';
import type { SshServer } from '../support/sshd.ts';
import { tempDir } from '../support/tmp.ts';
import type { TempDir } from '../support/tmp.ts';

const LB_PW = 'ssh-vm-repo-pw-7301';

/** The remote dirs named in the recorded ssh argv (made by mktemp over there; its templates left out). */
const remoteDirs = (argv: string, prefix: string): string[] => [...new Set(argv.match(new RegExp(`/tmp/${prefix}\\.[A-Za-z0-9]+`, 'g')) ?? [])].filter((d) => !/X{6,}$/.test(d));

describe('VictoriaMetrics on a host reached over ssh', () => {
  let sshd: SshServer | undefined;
  let tmp: TempDir;
  let cfg: string;
  let argvLog: string;
  let hostPath: string;
  let url = '';
  let pidFile = '';

  const run = (args: string[]) => lifeboat(['-c', cfg, ...args], { cwd: tmp.path, env: { PATH: hostPath, LB_PW } });
  const count = async (): Promise<string> => {
    const r = await fetch(`${url}/api/v1/query?query=${encodeURIComponent('count(count_over_time({__name__!=""}[3650d]))')}`);
    return JSON.stringify(((await r.json()) as { data: { result: Array<{ value: [number, string] }> } }).data.result.map((x) => x.value[1]));
  };

  before(async (t) => {
    if (!needBinaries(t as never, 'ssh', 'victoria-metrics')) return;
    sshd = await startSshd(t as never, { path: '/usr/local/bin:/usr/bin:/bin' });
    if (!sshd) return;
    tmp = await tempDir('ssh-vm');
    const bin = path.join(tmp.path, 'bin');
    await mkdir(bin);
    argvLog = path.join(tmp.path, 'ssh-argv.log');
    await writeFile(path.join(bin, 'ssh'), `#!/bin/sh\nprintf '%s\\n' "$*" >> ${argvLog}\nexec /usr/bin/ssh "$@"\n`);
    await chmod(path.join(bin, 'ssh'), 0o755);
    hostPath = `${bin}:${process.env.PATH ?? ''}`;
    const port = await freePort();
    const dataDir = path.join(tmp.path, 'remote', 'vmdata');
    pidFile = path.join(tmp.path, 'vm.pid');
    const start = `setsid victoria-metrics -storageDataPath=${dataDir} -httpListenAddr=127.0.0.1:${port} -retentionPeriod=100y >>${tmp.path}/vm.log 2>&1 </dev/null & echo $! >${pidFile}`;
    url = `http://127.0.0.1:${port}`;
    await runCommand('bash', ['-c', start]);
    await pollUntil(async () => fetch(`${url}/health`).then((r) => r.ok, () => false), { what: `VictoriaMetrics on ${port}` });
    const now = Math.floor(Date.now() / 1000) - 3600;
    const lines: string[] = [];
    for (let i = 0; i < 60; i++) lines.push(`cpu_usage{host="h${i % 5}",core="${i}"} ${i} ${(now - i * 10) * 1000}`, `mem_free{host="h${i % 5}"} ${i * 2} ${(now - i * 15) * 1000}`);
    assert.ok((await fetch(`${url}/api/v1/import/prometheus`, { method: 'POST', body: lines.join('\n') })).ok);
    await fetch(`${url}/internal/force_flush`);
    cfg = path.join(tmp.path, 'lifeboat.yml');
    await writeFile(cfg, `
repository:
  url: ./repo
  password: { env: LB_PW }
state_dir: ./state
sources:
  metrics:
    type: victoriametrics
    ssh: { host: ${sshd.host}, port: ${sshd.port}, user: ${sshd.user}, identity_file: ${sshd.identityFile}, known_hosts: ${sshd.knownHosts} }
    url: ${url}
    data_dir: ${dataDir}
    stop_command: kill -INT "$(cat ${pidFile})"
    start_command: "${start.replaceAll('"', '\\"')}"
`);
  });
  after(async () => {
    if (pidFile !== '') await runCommand('bash', ['-c', `kill -9 "$(cat ${pidFile})" 2>/dev/null; true`]);
    await sshd?.stop();
    await tmp?.cleanup();
  });

  test('backup, wipe, restore and drill over ssh, fingerprints equal, nothing left over there', async (t) => {
    if (!sshd) return t.skip('no sshd or victoria-metrics');
    const want = await count();
    assert.equal(want, '["65"]');
    assert.equal((await run(['init'])).code, 0);
    const b = await run(['backup', '--json']);
    assert.equal(b.code, 0, b.stderr + b.stdout);
    assert.deepEqual(last<Report>(b).sources.map((s) => [s.source, s.status]), [['metrics', 'ok']]);

    await fetch(`${url}/api/v1/admin/tsdb/delete_series?match[]=cpu_usage`);
    assert.notEqual(await count(), want);
    const r = await run(['restore', '--yes', '--no-safety-snapshot', '--json']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.deepEqual(last<Report>(r).sources.map((s) => [s.source, s.status, s.fingerprint_diff]), [['metrics', 'ok', []]]);
    assert.equal(await count(), want);

    const d = await run(['drill', '--json']);
    assert.equal(d.code, 0, d.stderr + d.stdout);
    assert.deepEqual(last<Report>(d).sources.map((s) => [s.source, s.status, s.cleanup]), [['metrics', 'pass', 'done']]);
    assert.deepEqual(readdirSync(path.join(tmp.path, 'remote')), ['vmdata'], 'a staging dir was left beside data_dir');

    const argv = await readFile(argvLog, 'utf8');
    const made = remoteDirs(argv, 'lifeboat-vm-drill');
    assert.equal(made.length, 1, made.join(' '));
    assert.deepEqual(made.filter((d) => existsSync(d)), [], 'the drill\'s dir was left on the remote host');
    assert.ok(argv.includes(`'tunnel' '127.0.0.1' '${new URL(url).port}'`), 'no tunnel to the server ran over ssh');
    assert.match(argv, /'cat' '--' '[^']*\/snapshots\//, 'the snapshot\'s files were not read over ssh');
  });
});
