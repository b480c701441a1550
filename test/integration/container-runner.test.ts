/**
 * The container transport's command runner against a real Docker engine (Engine API over
 * its socket): stdin and stdout bytes round-trip, stderr and exit codes come back, secrets
 * go in env, compose services are found by label, and failures are coded errors naming
 * the container and the next step.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { collect } from '../../src/sources/process-kit.ts';
import { DockerApi, dockerSocketPath } from '../../src/transport/docker-api.ts';
import { createContainerRunner } from '../../src/transport/container-runner.ts';
import { TransportError } from '../../src/core/errors.ts';
import { stopContainers } from '../../src/transport/container-stopper.ts';
import { BASE_IMAGE, startDockerEngine } from '../support/docker-engine.ts';
import type { DockerEngine } from '../support/docker-engine.ts';

const name = `lb-runner-${process.pid}`;
/** An idle PID 1 that stops on SIGTERM (a bare `sleep` ignores it, and each stop would wait out its timeout). */
const IDLE = ['sh', '-c', 'trap "exit 0" TERM; sleep infinity & wait'];
let engine: DockerEngine | undefined;
let api: DockerApi;

async function docker(args: string[]): Promise<string> {
  const r = await (engine as DockerEngine).docker(args);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

describe('container runner (Docker Engine API)', () => {
  before(async (t) => {
    engine = await startDockerEngine(t as never);
    if (!engine) return;
    await engine.ensureBaseImage();
    api = new DockerApi(dockerSocketPath({ DOCKER_HOST: engine.dockerHost }));
    await docker(['run', '-d', '--network', 'none', '--name', name,
      '--label', 'com.docker.compose.project=omni', '--label', 'com.docker.compose.service=db', BASE_IMAGE, ...IDLE]);
    await docker(['create', '--network', 'none', '--name', `${name}-stopped`, BASE_IMAGE, 'true']);
  });
  after(async () => {
    if (!engine) return;
    await engine.docker(['rm', '-f', name, `${name}-stopped`]);
    await engine.stop();
  });

  test('stdin bytes come back on stdout unchanged, with stderr and the exit code apart', async (t) => {
    if (!engine) return t.skip('no engine');
    const runner = createContainerRunner(api, { container: name });
    const data = randomBytes(3 * 1024 * 1024 + 17);
    const cmd = runner.start({ command: 'sh', args: ['-c', 'cat; echo oops >&2; exit 3'] });
    const parts: Buffer[] = [];
    cmd.stdout.on('data', (c: Buffer) => parts.push(c));
    cmd.stdin.end(data);
    const fin = await cmd.done;
    assert.equal(fin.code, 3);
    assert.equal(fin.stderr, 'oops\n');
    assert.ok(Buffer.concat(parts).equals(data), 'stdout differs from stdin');
  });

  test('env reaches the command (a secret is never in argv), cwd is honoured', async (t) => {
    if (!engine) return t.skip('no engine');
    const runner = createContainerRunner(api, { container: name });
    const r = await collect(runner, { command: 'sh', args: ['-c', 'printf "%s %s" "$LB_SECRET" "$(pwd)"'], env: { LB_SECRET: 's3cr3t' }, cwd: '/tmp' });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 's3cr3t /tmp');
  });

  test('a compose service is found by its labels', async (t) => {
    if (!engine) return t.skip('no engine');
    const runner = createContainerRunner(api, { compose: { project: 'omni', service: 'db' } });
    const r = await collect(runner, { command: 'hostname', args: [] });
    assert.equal(r.code, 0, r.stderr);
    const id = await docker(['inspect', '--format', '{{.Config.Hostname}}', name]);
    assert.equal(r.stdout.trim(), id);
  });

  test('a tool missing in the image is exit 127 naming the tool and the container', async (t) => {
    if (!engine) return t.skip('no engine');
    const r = await collect(createContainerRunner(api, { container: name }), { command: 'pg_dump', args: ['--version'] });
    assert.equal(r.code, 127);
    assert.match(r.stderr, new RegExp(`pg_dump is not installed in container ${name}`));
  });

  test('a stopped container, a missing one and an unknown service are coded errors with the next step', async (t) => {
    if (!engine) return t.skip('no engine');
    const stopped = `${name}-stopped`;
    await assert.rejects(collect(createContainerRunner(api, { container: stopped }), { command: 'true', args: [] }), (err: unknown) =>
      err instanceof TransportError && err.code === 'container_not_running' && err.message.includes(stopped) && (err.hint ?? '').includes(`docker start ${stopped}`));
    await assert.rejects(collect(createContainerRunner(api, { container: 'lb-no-such' }), { command: 'true', args: [] }), (err: unknown) =>
      err instanceof TransportError && err.code === 'container_not_found' && err.message.includes('lb-no-such'));
    await assert.rejects(collect(createContainerRunner(api, { compose: { project: 'omni', service: 'nope' } }), { command: 'true', args: [] }), (err: unknown) =>
      err instanceof TransportError && err.code === 'container_not_found' && err.message.includes('service nope'));
  });

  test('an unreachable socket names the socket and what to do', async () => {
    const bad = new DockerApi('/nonexistent/docker.sock');
    await assert.rejects(collect(createContainerRunner(bad, { container: name }), { command: 'true', args: [] }), (err: unknown) =>
      err instanceof TransportError && err.code === 'transport_unreachable' && err.message.includes('/nonexistent/docker.sock'));
  });

  test('a kill ends a running command', async (t) => {
    if (!engine) return t.skip('no engine');
    const cmd = createContainerRunner(api, { container: name }).start({ command: 'sh', args: ['-c', 'echo up; sleep 1000'] });
    for await (const chunk of cmd.stdout) {
      if (String(chunk).includes('up')) break;
    }
    cmd.kill();
    const fin = await cmd.done;
    assert.notEqual(fin.code, 0);
  });

  test('a command aborted before its exec starts never runs in the container, and its stdout ends', async (t) => {
    if (!engine) return t.skip('no engine');
    const ac = new AbortController();
    ac.abort();
    const cmd = createContainerRunner(api, { container: name }).start({ command: 'sleep', args: ['4242'], signal: ac.signal });
    const fin = await cmd.done;
    assert.equal(fin.signal, 'SIGTERM');
    for await (const _ of cmd.stdout) assert.fail('output from a command that never ran');
    assert.ok(!(await docker(['top', name])).includes('4242'), 'sleep 4242 still runs in the container');
  });

  test('stop: a compose service is stopped and started again; a container that was stopped stays stopped', async (t) => {
    if (!engine) return t.skip('no engine');
    const state = async (n: string) => docker(['inspect', '--format', '{{.State.Running}}', n]);
    const lines: string[] = [];
    const restart = await stopContainers(api, [{ compose: { project: 'omni', service: 'db' } }, { container: `${name}-stopped` }], (m) => lines.push(m));
    assert.equal(await state(name), 'false');
    assert.deepEqual(await restart(), []);
    assert.equal(await state(name), 'true');
    assert.equal(await state(`${name}-stopped`), 'false');
    assert.deepEqual(lines, ['stopped compose service db of project omni', 'started compose service db of project omni again']);
  });
});
