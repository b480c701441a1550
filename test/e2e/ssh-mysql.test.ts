/**
 * A MariaDB source over the ssh transport end to end: mariadb-dump and mariadb run in the ssh
 * session (lifeboat's PATH has neither), the password reaching them as MYSQL_PWD through the
 * stdin env block; backed up, wiped, restored and drilled with fingerprints equal.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { lifeboat, lastJson as last } from '../support/lifeboat-cli.ts';
import { startMariadb } from '../support/mariadb.ts';
import type { MariadbServer } from '../support/mariadb.ts';
import { needBinaries } from '../support/require.ts';
import { SERVER_BINARIES } from '../support/binaries.ts';
import { startSshd } from '../support/sshd.ts';
import type { SshServer } from '../support/sshd.ts';
import { tempDir } from '../support/tmp.ts';
import type { TempDir } from '../support/tmp.ts';

const LB_PW = 'ssh-my-repo-pw-4410';
const TOOLS = ['mariadb-dump', 'mysqldump', 'mariadb', 'mysql'];

interface Report {
  status: string;
  sources: Array<{ source: string; status: string; fingerprint_diff?: string[]; cleanup?: string }>;
}

describe('mysql (MariaDB) over ssh', () => {
  let sshd: SshServer | undefined;
  let my: MariadbServer | undefined;
  let tmp: TempDir;
  let cfg: string;
  let hostPath: string;
  const run = (args: string[]) => lifeboat(['-c', cfg, ...args], { cwd: tmp.path, env: { PATH: hostPath, LB_PW, MY_PW: (my as MariadbServer).password } });
  const digest = async () => (await (my as MariadbServer).sql("SELECT md5(group_concat(id, ':', note ORDER BY id)) FROM orders.lines")).trim();

  before(async (t) => {
    if (!needBinaries(t as never, ...SERVER_BINARIES.mariadb, 'mariadb-dump', 'ssh')) return;
    sshd = await startSshd(t as never, { path: '/usr/local/bin:/usr/bin:/bin' });
    if (!sshd) return;
    my = await startMariadb();
    tmp = await tempDir('ssh-mysql');
    const bin = path.join(tmp.path, 'bin');
    await mkdir(bin);
    await symlink('/usr/bin/ssh', path.join(bin, 'ssh'));
    hostPath = [bin, ...(process.env.PATH ?? '').split(':').filter((d) => d !== '' && !TOOLS.some((x) => existsSync(path.join(d, x))))].join(':');
    await my.sql("CREATE DATABASE orders; CREATE TABLE orders.lines (id int primary key, note text); INSERT INTO orders.lines SELECT seq, concat('line ', seq) FROM orders.seq_1_to_2000;");
    cfg = path.join(tmp.path, 'lifeboat.yml');
    await writeFile(cfg, `
repository:
  url: ./repo
  password: { env: LB_PW }
state_dir: ./state
sources:
  orders:
    type: mysql
    ssh: { host: ${sshd.host}, port: ${sshd.port}, user: ${sshd.user}, identity_file: ${sshd.identityFile}, known_hosts: ${sshd.knownHosts} }
    connection: { host: 127.0.0.1, port: ${my.port}, user: root, password: { env: MY_PW } }
    databases: [orders]
`);
  });
  after(async () => {
    await my?.stop();
    await sshd?.stop();
    await tmp?.cleanup();
  });

  test('backup, wipe, restore and drill over ssh, fingerprints equal, no secret printed', async (t) => {
    if (!sshd || !my) return t.skip('no sshd');
    for (const dir of hostPath.split(':')) for (const tool of TOOLS) assert.ok(!existsSync(path.join(dir, tool)), `${dir}/${tool}`);
    assert.equal((await run(['init'])).code, 0);
    const want = await digest();
    const b = await run(['backup', '--json']);
    assert.equal(b.code, 0, b.stderr + b.stdout);
    assert.deepEqual(last<Report>(b).sources.map((s) => [s.source, s.status]), [['orders', 'ok']]);
    assert.ok(!(b.stdout + b.stderr).includes(my.password), 'a secret was printed');
    await my.sql('DROP DATABASE orders');
    const r = await run(['restore', '--yes', '--no-safety-snapshot', '--json']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const rr = last<Report>(r);
    assert.equal(rr.status, 'ok', JSON.stringify(rr.sources));
    assert.deepEqual(rr.sources[0]?.fingerprint_diff, []);
    assert.equal(await digest(), want);
    const d = await run(['drill', '--json']);
    assert.equal(d.code, 0, d.stderr + d.stdout);
    assert.deepEqual(last<Report>(d).sources.map((s) => [s.source, s.status, s.cleanup]), [['orders', 'pass', 'done']]);
  });
});
