/**
 * An S3 bucket on a host reached over ssh (a test sshd on a loopback port; the remote host is
 * this machine, s3rver on its 127.0.0.1): every connection of the AWS SDK goes through a tunnel
 * run over ssh; backup, wipe, restore and a drill (its scratch bucket removed afterwards) with
 * fingerprints equal. An ssh wrapper records every client's argv: the tunnel ran, and the
 * secret key is in no argv and nowhere in the output.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { lifeboat, lastJson as last } from '../support/lifeboat-cli.ts';
import type { StackReport as Report } from '../support/lifeboat-cli.ts';
import { needBinaries } from '../support/require.ts';
import { randomBucketName, startS3Server, type S3Server } from '../support/s3-server.ts';
import { startSshd } from '../support/sshd.ts';
import type { SshServer } from '../support/sshd.ts';
import { tempDir } from '../support/tmp.ts';
import type { TempDir } from '../support/tmp.ts';

const LB_PW = 'ssh-s3-repo-pw-2b71';

describe('an S3 bucket on a host reached over ssh', () => {
  let sshd: SshServer | undefined;
  let s3: S3Server | undefined;
  let c: S3Client;
  let tmp: TempDir;
  let cfg: string;
  let argvLog: string;
  let hostPath: string;
  const bucket = randomBucketName('ssh');
  const big = Buffer.alloc(300_000, 9);

  const run = (args: string[]) => lifeboat(['-c', cfg, ...args], {
    cwd: tmp.path, env: { PATH: hostPath, LB_PW, S3_AK: (s3 as S3Server).accessKeyId, S3_SK: (s3 as S3Server).secretAccessKey },
  });
  const body = async (key: string): Promise<Buffer> => Buffer.from(await (await c.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToByteArray());

  before(async (t) => {
    if (!needBinaries(t as never, 'ssh')) return;
    sshd = await startSshd(t as never, { path: '/usr/local/bin:/usr/bin:/bin' });
    if (!sshd) return;
    s3 = await startS3Server({ bucket });
    c = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: s3.credentials() });
    tmp = await tempDir('ssh-s3');
    const bin = path.join(tmp.path, 'bin');
    await mkdir(bin);
    argvLog = path.join(tmp.path, 'ssh-argv.log');
    await writeFile(path.join(bin, 'ssh'), `#!/bin/sh\nprintf '%s\\n' "$*" >> ${argvLog}\nexec /usr/bin/ssh "$@"\n`);
    await chmod(path.join(bin, 'ssh'), 0o755);
    hostPath = `${bin}:${process.env.PATH ?? ''}`;
    await c.send(new PutObjectCommand({ Bucket: bucket, Key: 'docs/readme.txt', Body: 'hello', ContentType: 'text/plain', Metadata: { owner: 'ops' } }));
    await c.send(new PutObjectCommand({ Bucket: bucket, Key: 'images/a.bin', Body: big, ContentType: 'application/octet-stream' }));
    cfg = path.join(tmp.path, 'lifeboat.yml');
    await writeFile(cfg, `
repository:
  url: ./repo
  password: { env: LB_PW }
state_dir: ./state
sources:
  assets:
    type: s3
    ssh: { host: ${sshd.host}, port: ${sshd.port}, user: ${sshd.user}, identity_file: ${sshd.identityFile}, known_hosts: ${sshd.knownHosts} }
    endpoint: ${s3.endpoint}
    bucket: ${bucket}
    access_key_id: { env: S3_AK }
    secret_access_key: { env: S3_SK }
`);
  });
  after(async () => {
    c?.destroy();
    await s3?.stop();
    await sshd?.stop();
    await tmp?.cleanup();
  });

  test('backup, wipe, restore and drill over ssh, fingerprints equal, the secret key in no argv', async (t) => {
    if (!sshd || !s3) return t.skip('no sshd');
    assert.equal((await run(['init'])).code, 0);
    const b = await run(['backup', '--json']);
    assert.equal(b.code, 0, b.stderr + b.stdout);
    assert.deepEqual(last<Report>(b).sources.map((s) => [s.source, s.status]), [['assets', 'ok']]);

    await c.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'images/a.bin' }));
    await c.send(new PutObjectCommand({ Bucket: bucket, Key: 'docs/readme.txt', Body: 'changed' }));
    await c.send(new PutObjectCommand({ Bucket: bucket, Key: 'extra.txt', Body: 'not in the backup' }));
    const r = await run(['restore', '--yes', '--no-safety-snapshot', '--json']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.deepEqual(last<Report>(r).sources.map((s) => [s.source, s.status, s.fingerprint_diff]), [['assets', 'ok', []]]);
    assert.ok((await body('images/a.bin')).equals(big));
    assert.equal((await body('docs/readme.txt')).toString(), 'hello');

    const d = await run(['drill', '--json']);
    assert.equal(d.code, 0, d.stderr + d.stdout);
    assert.deepEqual(last<Report>(d).sources.map((s) => [s.source, s.status, s.cleanup]), [['assets', 'pass', 'done']]);
    assert.deepEqual(await readdir(s3.dataDir), [bucket], 'the drill\'s bucket was left on the server');

    const argv = await readFile(argvLog, 'utf8');
    assert.ok(argv.includes(`'tunnel' '127.0.0.1' '${s3.port}'`), 'no tunnel to the S3 server ran over ssh');
    for (const out of [argv, b.stdout + b.stderr, r.stdout + r.stderr, d.stdout + d.stderr]) assert.ok(!out.includes(s3.secretAccessKey), 'the secret key was in argv or printed');
  });
});
