/**
 * Which command runner a source gets: the local one, or the container transport when its
 * config names a `container` or a `compose` service (tools then run where the store lives).
 */
import { ConfigError } from '../core/errors.ts';
import type { CommandRunner } from '../core/command-runner.ts';
import type { SourceConfig } from '../config/schema.ts';
import { localRunner } from '../transport/local-runner.ts';
import { DockerApi, dockerSocketPath } from '../transport/docker-api.ts';
import { createContainerRunner } from '../transport/container-runner.ts';

export function runnerFor(name: string, config: SourceConfig, env: NodeJS.ProcessEnv, file: string): CommandRunner {
  const { container, compose } = config;
  if (container !== undefined && compose !== undefined) {
    throw new ConfigError(`source ${name}: set either container or compose, not both`, { file, key: `sources.${name}`, hint: 'keep the one naming where the store runs' });
  }
  if (container === undefined && compose === undefined) return localRunner;
  // The socket is checked when a command first runs, so `config check` works without an engine.
  const api = new DockerApi(dockerSocketPath(env));
  return createContainerRunner(api, container !== undefined ? { container } : { compose: compose as { project: string; service: string } });
}
