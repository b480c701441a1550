/**
 * Which command runner a source gets: the local one, the container transport when its
 * config names a `container` or a `compose` service, or the ssh transport for `ssh:` (tools
 * then run where the store lives);
 * and the containers stopped around its backup and restore (`stop:`).
 */
import { ConfigError, TransportError } from '../core/errors.ts';
import type { CommandRunner } from '../core/command-runner.ts';
import type { Source } from '../core/source.ts';
import type { SourceConfig } from '../config/schema.ts';
import { localRunner } from '../transport/local-runner.ts';
import { DockerApi, dockerSocketPath } from '../transport/docker-api.ts';
import { createContainerRunner } from '../transport/container-runner.ts';
import type { ContainerTarget } from '../transport/container-runner.ts';
import { stopContainers } from '../transport/container-stopper.ts';
import { createSshRunner } from '../transport/ssh-runner.ts';
import { sourceTimeouts } from '../sources/source-kit.ts';
import { composeDependencies } from './compose-order.ts';
import { VolumeHelper, volumeHelperName } from '../transport/volume-helper.ts';

/**
 * Source types that run their tools through the container transport and are tested that way.
 * Any other type refuses `container:`/`compose:` instead of silently working on the host.
 */
const CONTAINER_TYPES = new Set(['postgres', 'mysql', 'redis', 'sqlite', 'files', 'command', 'gitea', 'vault', 'victoriametrics', 's3', 'opensearch']);

/**
 * Source types whose tools run on the host named by `ssh:` and are tested that way (the
 * runner has `stageFile`, so they treat paths as the remote host's, as in a container).
 */
const SSH_TYPES = new Set(['postgres', 'mysql', 'redis', 'sqlite', 'command', 'vault', 'victoriametrics', 'qdrant', 'opensearch', 's3']);

export function runnerFor(name: string, config: SourceConfig, env: NodeJS.ProcessEnv, file: string): CommandRunner {
  const { container, compose, ssh } = config;
  if (ssh !== undefined) {
    if (container !== undefined || compose !== undefined) {
      throw new ConfigError(`source ${name}: set one of container, compose and ssh, not several`, { file, key: `sources.${name}`, hint: 'keep the one naming where the store runs' });
    }
    if (!SSH_TYPES.has(config.type)) {
      throw new ConfigError(`source ${name}: a ${config.type} source cannot run over ssh yet`, {
        file, key: `sources.${name}.ssh`,
        hint: 'remove the key and reach the store from this host, or wrap its tools in a command source with ssh:',
      });
    }
    return createSshRunner({
      host: ssh.host, user: ssh.user, port: ssh.port, identityFile: ssh.identity_file, knownHosts: ssh.known_hosts,
      connectTimeoutMs: sourceTimeouts(config).connectMs,
    });
  }
  if (config.type === 'volume') {
    if (container !== undefined || compose !== undefined) {
      throw new ConfigError(`source ${name}: a volume source reaches its volume through a helper container of its own`, { file, key: `sources.${name}.${container !== undefined ? 'container' : 'compose'}`, hint: 'remove the key; list the containers to stop in stop: if needed' });
    }
    // The helper container (volume-helper.ts) is made by withStoppedContainers around each operation.
    return createContainerRunner(new DockerApi(dockerSocketPath(env)), { container: volumeHelperName(name) });
  }
  if (container !== undefined && compose !== undefined) {
    throw new ConfigError(`source ${name}: set either container or compose, not both`, { file, key: `sources.${name}`, hint: 'keep the one naming where the store runs' });
  }
  if (container === undefined && compose === undefined) return localRunner;
  // These read host paths or run helper servers in host dirs: a container key would be
  // silently ignored (a host path backed up, or restored into) instead of honoured.
  if (!CONTAINER_TYPES.has(config.type)) {
    throw new ConfigError(`source ${name}: a ${config.type} source cannot run in a container yet`, {
      file, key: `sources.${name}.${container !== undefined ? 'container' : 'compose'}`,
      hint: config.type === 'redis' ? 'remove the key and reach the server by an address the host can connect to (a published port or the host network)'
        : config.type === 'sqlite' || config.type === 'files' ? 'remove the key and point the source at a path on this host (a bind mount or the volume\'s mountpoint)'
          : 'remove the key and reach the store from the host (a published port or the host network), or wrap its tools in a command source with container:',
    });
  }
  // The socket is checked when a command first runs, so `config check` works without an engine.
  const api = new DockerApi(dockerSocketPath(env));
  return createContainerRunner(api, container !== undefined ? { container } : { compose: compose as { project: string; service: string } });
}

/**
 * `source` with its `stop:` containers stopped around backup and restore, started again
 * afterwards, a failed or cancelled run included (a cancel aborts the source, whose rejection
 * starts them). A container that does not start again fails the run.
 */
export function withStoppedContainers(inner: Source, config: SourceConfig, env: NodeJS.ProcessEnv): Source {
  const source = config.type === 'volume' ? withVolumeHelper(inner, config, env) : inner;
  const list = config.stop;
  if (list === undefined || list.length === 0) return source;
  const targets: ContainerTarget[] = list.map((s) => (typeof s === 'string' ? { container: s } : { compose: s }));
  const api = new DockerApi(dockerSocketPath(env));
  const around = async <T>(ctx: { log: { info(m: string): void; warn(m: string): void } }, run: () => Promise<T>): Promise<T> => {
    const restart = await stopContainers(api, targets, ctx.log.info);
    let result: T;
    try {
      result = await run();
    } catch (err) {
      // The run's own error is what the report shows; a container left stopped is a warning too.
      for (const e of await restart()) ctx.log.warn(e);
      throw err;
    }
    const errors = await restart();
    for (const e of errors) ctx.log.warn(e);
    if (errors.length > 0) throw new TransportError('container_not_restarted', `source ${source.name}: ${errors.join('; ')}`, { hint: 'start the containers by hand (docker start NAME)' });
    return result;
  };
  return {
    name: source.name,
    type: source.type,
    backup: (sink, ctx) => around(ctx, () => source.backup(sink, ctx)),
    restore: (reader, ctx, opts) => around(ctx, () => source.restore(reader, ctx, opts)),
    fingerprint: (ctx, opts) => source.fingerprint(ctx, opts),
    ...(source.verify ? { verify: source.verify.bind(source) } : {}),
    ...(source.scratchTarget ? { scratchTarget: source.scratchTarget.bind(source) } : {}),
  };
}

/**
 * A volume source with its helper container around each operation (read-only mount, except
 * for a restore in place, which stops the volume's running users first and starts them again
 * afterwards, also when it failed). A drill's scratch target holds the helper until cleanup.
 */
function withVolumeHelper(source: Source, config: SourceConfig, env: NodeJS.ProcessEnv): Source {
  const api = new DockerApi(dockerSocketPath(env));
  const helper = new VolumeHelper(api, { volume: String(config.volume), source: source.name, ...(typeof config.helper_image === 'string' ? { image: config.helper_image } : {}) });
  const held = async <T>(writable: boolean, run: () => Promise<T>): Promise<T> => {
    await helper.acquire(writable);
    let result: T;
    try {
      result = await run();
    } catch (err) {
      await helper.release().catch(() => undefined); // the run's error is the one to report
      throw err;
    }
    await helper.release();
    return result;
  };
  return {
    name: source.name,
    type: source.type,
    backup: (sink, ctx) => held(false, () => source.backup(sink, ctx)),
    fingerprint: (ctx, opts) => held(false, () => source.fingerprint(ctx, opts)),
    restore: async (reader, ctx, opts) => {
      if (opts?.to !== undefined) return held(false, () => source.restore(reader, ctx, opts));
      const running = (await helper.users()).filter((u) => u.running);
      const restart = await stopContainers(api, running.map((u) => ({ container: u.id })), ctx.log.info);
      let failed: unknown;
      try {
        await held(true, () => source.restore(reader, ctx, opts));
      } catch (err) {
        failed = err;
      }
      const errors = await restart();
      for (const e of errors) ctx.log.warn(e);
      if (failed !== undefined) throw failed;
      if (errors.length > 0) throw new TransportError('container_not_restarted', `source ${source.name}: ${errors.join('; ')}`, { hint: 'start the containers by hand (docker start NAME)' });
    },
    ...(source.verify ? { verify: source.verify.bind(source) } : {}),
    ...(source.scratchTarget ? {
      scratchTarget: async (reader, ctx) => {
        await helper.acquire(false);
        try {
          const t = await (source.scratchTarget as NonNullable<Source['scratchTarget']>)(reader, ctx);
          return {
            ...t,
            cleanup: async () => {
              try {
                await t.cleanup();
              } finally {
                await helper.release();
              }
            },
          };
        } catch (err) {
          await helper.release().catch(() => undefined); // the scratch target's error is the one to report
          throw err;
        }
      },
    } satisfies Pick<Source, 'scratchTarget'> : {}),
  };
}

/**
 * Each source's restore dependencies: its own depends_on; a compose source without any takes
 * those of its service in the compose file (compose-order.ts). Without compose sources the
 * engine is never asked.
 */
export async function restoreDependencies(stack: { sources: ReadonlyMap<string, { config: SourceConfig }>; env: NodeJS.ProcessEnv }): Promise<Map<string, string[]>> {
  const list = [...stack.sources].map(([name, s]) => ({ name, config: s.config }));
  if (!list.some((s) => s.config.compose !== undefined && s.config.depends_on === undefined)) {
    return new Map(list.map((s) => [s.name, [...(s.config.depends_on ?? [])]]));
  }
  return composeDependencies(new DockerApi(dockerSocketPath(stack.env)), list);
}
