import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SourceConfig } from '../config/schema.ts';
import type { ContainerSummary, DockerApi } from '../transport/docker-api.ts';
import { composeDependencies, orderByDependencies, parseComposeDependsOn } from './compose-order.ts';

test('the depends_on label of Compose v2 gives the service names', () => {
  assert.deepEqual(parseComposeDependsOn('db:service_healthy:false,cache:service_started:true'), ['db', 'cache']);
  assert.deepEqual(parseComposeDependsOn(''), []);
  assert.deepEqual(parseComposeDependsOn(undefined), []);
});

/** An engine whose project omni has these services, with these depends_on labels. */
function fakeApi(labels: Record<string, string | undefined>): DockerApi {
  return {
    async listByLabels(filter: readonly string[]): Promise<ContainerSummary[]> {
      if (!filter.includes('com.docker.compose.project=omni')) return [];
      return Object.entries(labels).map(([service, l]) => ({
        Id: service, Names: [`/${service}`], State: 'running',
        Labels: { 'com.docker.compose.project': 'omni', 'com.docker.compose.service': service, ...(l === undefined ? {} : { 'com.docker.compose.depends_on': l }) },
      }));
    },
  } as unknown as DockerApi;
}

const compose = (service: string, extra: Partial<SourceConfig> = {}) => ({ type: 'files', compose: { project: 'omni', service }, ...extra }) as SourceConfig;

test('a compose source without depends_on of its own is restored after the sources of the services it depends on', async () => {
  const api = fakeApi({ app: 'db:service_healthy:false,cache:service_started:false', db: undefined, cache: 'db:service_started:false', web: 'app:service_started:false' });
  const sources = [
    { name: 'a-uploads', config: compose('app') },
    { name: 'z-postgres', config: compose('db') },
    { name: 'm-redis', config: compose('cache') },
    { name: 'b-web', config: compose('web', { depends_on: [] }) },
    { name: 'notes', config: { type: 'command' } as SourceConfig },
  ];
  const deps = await composeDependencies(api, sources);
  assert.deepEqual(Object.fromEntries(deps), { 'a-uploads': ['z-postgres', 'm-redis'], 'z-postgres': [], 'm-redis': ['z-postgres'], 'b-web': [], notes: [] });
  // Without the labels the order would be by name: a-uploads first.
  assert.deepEqual(orderByDependencies(sources.map((s) => s.name), deps), ['b-web', 'notes', 'z-postgres', 'm-redis', 'a-uploads']);
  // Restoring only some sources: the others impose nothing.
  assert.deepEqual(orderByDependencies(['a-uploads', 'm-redis'], deps), ['m-redis', 'a-uploads']);
});

test('a service without a source passes on what it depends on', async () => {
  const api = fakeApi({ app: 'web:service_started:false', web: 'db:service_healthy:false', db: undefined });
  const deps = await composeDependencies(api, [{ name: 'files', config: compose('app') }, { name: 'pg', config: compose('db') }]);
  assert.deepEqual(Object.fromEntries(deps), { files: ['pg'], pg: [] });
});
