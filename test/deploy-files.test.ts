// The deployment examples of deploy/ (compose, Kubernetes, systemd) are files users copy as
// they are, so they are checked here: they parse, their lifeboat.yml passes lifeboat's own
// validation, every secret it names reaches the process from a secret store (never a literal),
// and the names that tie the pieces together (volumes, Secret, ConfigMap, PVC, the image's
// user) agree. The systemd units pass `systemd-analyze verify` without a warning.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { loadConfig } from '../src/config/loader.ts';
import { buildConfigSchema } from '../src/config/schema.ts';
import { secretReferences } from '../src/config/secrets.ts';
import { composeBinary } from './support/compose-plugin.ts';
import { requireServers } from './support/require.ts';
import { tempDir } from './support/tmp.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const DEPLOY = path.join(ROOT, 'deploy');
/** The uid the Dockerfile gives the user lifeboat. */
const IMAGE_UID = Number(/useradd [^\n]*--uid (\d+)/.exec(readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8'))?.[1]);

function yamlFile(rel: string): unknown {
  const docs = parseAllDocuments(readFileSync(path.join(DEPLOY, rel), 'utf8'));
  const list = Array.isArray(docs) ? docs : [docs];
  for (const d of list) assert.deepEqual(d.errors, [], `${rel}: YAML errors`);
  assert.equal(list.length, 1, `${rel}: one document`);
  return list[0]!.toJS();
}

/** Validates a lifeboat.yml text and returns the env names of its secret references. */
async function secretEnvNames(text: string): Promise<string[]> {
  const dir = await tempDir('deploy');
  try {
    const file = path.join(dir.path, 'lifeboat.yml');
    writeFileSync(file, text);
    const loaded = await loadConfig(file, { env: { HOME: dir.path } });
    const refs = secretReferences(buildConfigSchema(), loaded.config);
    assert.ok(refs.length > 0);
    return refs.map(({ key, ref }) => {
      assert.ok('env' in ref, `${key}: secrets in the examples come from the environment`);
      return (ref as { env: string }).env;
    });
  } finally {
    await dir.cleanup();
  }
}

test('compose: the lifeboat service is built from this repository, its config validates and every secret comes from .env', async () => {
  const compose = yamlFile('compose/compose.yaml') as {
    services: Record<string, { build?: { context: string }; image?: string; environment?: Record<string, string>; volumes?: string[]; command?: string[]; user?: string }>;
    volumes: Record<string, unknown>;
  };
  const lb = compose.services.lifeboat!;
  assert.ok(existsSync(path.join(DEPLOY, 'compose', lb.build!.context, 'Dockerfile')), 'build context holds the Dockerfile');
  assert.deepEqual(lb.command, ['daemon']);
  const env = lb.environment!;
  const mounts = lb.volumes!.map((v) => v.split(':'));
  const configMount = mounts.find(([, target]) => target === env.LIFEBOAT_CONFIG);
  assert.ok(configMount, 'LIFEBOAT_CONFIG is the mounted lifeboat.yml');
  assert.ok(mounts.some(([src]) => src === '/var/run/docker.sock'), 'the Docker socket is mounted');
  for (const [src] of mounts) assert.ok(src!.startsWith('/') || src!.startsWith('./') || src! in compose.volumes, `volume ${src} is declared`);
  for (const [name, value] of Object.entries(env)) {
    if (/PASSWORD|SECRET|KEY/.test(name)) assert.match(value, /^\$\{[A-Z_]+[^}]*\}$/, `${name} is taken from .env, not written here`);
  }
  const example = readFileSync(path.join(DEPLOY, 'compose', '.env.example'), 'utf8');
  const ymlText = readFileSync(path.join(DEPLOY, 'compose', configMount[0]!), 'utf8');
  for (const name of await secretEnvNames(ymlText)) {
    assert.ok(name in env, `${name} is passed to the lifeboat container`);
    assert.match(example, new RegExp(`^${name}=$`, 'm'), `${name} is in .env.example, empty`);
  }
});

test('compose: docker compose config accepts the file with .env.example filled in, and names a missing secret', async (t) => {
  const compose = composeBinary();
  if ('missing' in compose) {
    if (requireServers) throw new Error(`REQUIRE_SERVERS=1 but ${compose.missing}`);
    return t.skip(compose.missing);
  }
  const dir = await tempDir('compose');
  t.after(() => dir.cleanup());
  const filled = path.join(dir.path, 'env');
  writeFileSync(filled, readFileSync(path.join(DEPLOY, 'compose', '.env.example'), 'utf8').replace(/=$/gm, '=placeholder'));
  const run = (envFile: string) =>
    spawnSync(compose.path, ['-f', 'compose.yaml', '--env-file', envFile, 'config', '--format', 'json'], { cwd: path.join(DEPLOY, 'compose'), encoding: 'utf8', env: { PATH: process.env.PATH } });
  const ok = run(filled);
  assert.equal(ok.status, 0, ok.stderr);
  const config = JSON.parse(ok.stdout) as { services: Record<string, { build?: { context: string; dockerfile: string }; user?: string }> };
  assert.equal(path.resolve(config.services.lifeboat!.build!.context), path.resolve(ROOT));
  assert.equal(config.services.lifeboat!.build!.dockerfile, 'Dockerfile');
  const empty = path.join(dir.path, 'empty');
  writeFileSync(empty, '');
  const missing = run(empty);
  assert.notEqual(missing.status, 0);
  assert.match(missing.stderr, /required variable \w+ is missing a value: set \w+ in \.env/);
});

test('kubernetes: Deployment and CronJob run as the image user and mount the Secret, ConfigMap and PVC that exist', async () => {
  const kustomization = yamlFile('kubernetes/kustomization.yaml') as { resources: string[] };
  const byKind = new Map<string, Record<string, unknown>>();
  for (const file of kustomization.resources) {
    const doc = yamlFile(path.join('kubernetes', file)) as { kind: string; metadata: { name: string } };
    assert.ok(doc.kind && doc.metadata?.name, `${file}: kind and metadata.name`);
    byKind.set(doc.kind, doc as unknown as Record<string, unknown>);
  }
  const secret = byKind.get('Secret') as { metadata: { name: string }; stringData: Record<string, string> };
  const configMap = byKind.get('ConfigMap') as { metadata: { name: string }; data: Record<string, string> };
  const pvc = byKind.get('PersistentVolumeClaim') as { metadata: { name: string } };
  for (const name of await secretEnvNames(configMap.data['lifeboat.yml']!)) assert.ok(name in secret.stringData, `${name} is a key of the Secret`);

  type Pod = {
    securityContext: { runAsNonRoot: boolean; runAsUser: number };
    containers: Array<{ args?: string[]; command?: string[]; env: Array<{ name: string; value: string }>; envFrom: Array<{ secretRef: { name: string } }>; volumeMounts: Array<{ name: string; mountPath: string }> }>;
    volumes: Array<{ name: string; configMap?: { name: string }; persistentVolumeClaim?: { claimName: string } }>;
  };
  const deployment = byKind.get('Deployment') as { spec: { replicas: number; template: { spec: Pod } } };
  const cronJob = byKind.get('CronJob') as { spec: { concurrencyPolicy: string; jobTemplate: { spec: { template: { spec: Pod } } } } };
  assert.equal(deployment.spec.replicas, 1);
  assert.deepEqual(deployment.spec.template.spec.containers[0]!.args, ['daemon']);
  assert.equal(cronJob.spec.concurrencyPolicy, 'Forbid');
  assert.match(cronJob.spec.jobTemplate.spec.template.spec.containers[0]!.command!.join(' '), /lifeboat .*backup/);
  for (const pod of [deployment.spec.template.spec, cronJob.spec.jobTemplate.spec.template.spec]) {
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.equal(pod.securityContext.runAsUser, IMAGE_UID);
    const c = pod.containers[0]!;
    assert.equal(c.envFrom[0]!.secretRef.name, secret.metadata.name);
    const configPath = c.env.find((e) => e.name === 'LIFEBOAT_CONFIG')!.value;
    const configMount = c.volumeMounts.find((m) => path.dirname(configPath) === m.mountPath)!;
    assert.equal(pod.volumes.find((v) => v.name === configMount.name)!.configMap!.name, configMap.metadata.name);
    assert.ok(pod.volumes.some((v) => v.persistentVolumeClaim?.claimName === pvc.metadata.name));
    for (const m of c.volumeMounts) assert.ok(pod.volumes.some((v) => v.name === m.name), `volume ${m.name} is declared`);
  }
});

test('systemd: the units pass systemd-analyze verify without a warning', (t) => {
  const units = ['lifeboat.service', 'lifeboat-backup.service', 'lifeboat-backup.timer'];
  const probe = spawnSync('systemd-analyze', ['--version'], { stdio: 'ignore' });
  if (probe.error !== undefined) {
    if (requireServers) throw new Error('REQUIRE_SERVERS=1 but systemd-analyze is missing; apt-get install -y systemd');
    return t.skip('systemd-analyze is missing');
  }
  const r = spawnSync('systemd-analyze', ['verify', ...units.map((u) => `./${u}`)], { cwd: path.join(DEPLOY, 'systemd'), encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  // Unknown keys are only warnings (exit 0): any output is a mistake in a unit.
  assert.equal(r.stderr, '');
  // The timer starts the service of its own name (no Unit= needed): both must exist.
  assert.ok(existsSync(path.join(DEPLOY, 'systemd', 'lifeboat-backup.service')));
});
