/**
 * Restore order informed by Compose. A source whose store is a compose service and that has no
 * `depends_on` of its own depends on the sources of the services its service `depends_on` in
 * the compose file, as Compose v2 records it on each container: the label
 * `com.docker.compose.depends_on` = "db:service_healthy:false,cache:service_started:true".
 * So `api` (depends on `db`) is restored after `db`, as Compose would start them. Sources with
 * their own depends_on, and sources outside compose, keep what lifeboat.yml says.
 */
import type { SourceConfig } from '../config/schema.ts';
import { dependencyOrder } from '../config/loader.ts';
import type { DockerApi } from '../transport/docker-api.ts';

const DEPENDS_ON_LABEL = 'com.docker.compose.depends_on';

/** The service names of a depends_on label ("svc:condition:restart", comma-separated). */
export function parseComposeDependsOn(label: string | undefined): string[] {
  if (label === undefined || label.trim() === '') return [];
  return [...new Set(label.split(',').map((e) => e.split(':')[0]?.trim() ?? '').filter((s) => s !== ''))];
}

/**
 * Each source's dependencies: its own depends_on, else those its compose service implies,
 * through services that have no source of their own (app → web → db: app after db). A
 * service with no container (not created yet) implies nothing.
 */
export async function composeDependencies(api: DockerApi, sources: ReadonlyArray<{ name: string; config: SourceConfig }>): Promise<Map<string, string[]>> {
  const byService = new Map<string, string[]>();
  for (const s of sources) {
    const c = s.config.compose;
    if (c === undefined) continue;
    const key = `${c.project}\0${c.service}`;
    byService.set(key, [...(byService.get(key) ?? []), s.name]);
  }
  /** project → service → the services it depends on (one engine query per project). */
  const graphs = new Map<string, Map<string, string[]>>();
  const graphOf = async (project: string): Promise<Map<string, string[]>> => {
    let g = graphs.get(project);
    if (g !== undefined) return g;
    g = new Map();
    for (const prefix of ['com.docker.compose', 'io.podman.compose']) {
      for (const c of await api.listByLabels([`${prefix}.project=${project}`])) {
        const service = c.Labels[`${prefix}.service`];
        if (service !== undefined && !g.has(service)) g.set(service, parseComposeDependsOn(c.Labels[DEPENDS_ON_LABEL]));
      }
      if (g.size > 0) break;
    }
    graphs.set(project, g);
    return g;
  };
  const out = new Map<string, string[]>();
  for (const s of sources) {
    const own = s.config.depends_on;
    const c = s.config.compose;
    if (own !== undefined || c === undefined) {
      out.set(s.name, [...(own ?? [])]);
      continue;
    }
    const g = await graphOf(c.project);
    const deps = new Set<string>();
    const seen = new Set([c.service]);
    const queue = [...(g.get(c.service) ?? [])];
    for (let svc = queue.shift(); svc !== undefined; svc = queue.shift()) {
      if (seen.has(svc)) continue;
      seen.add(svc);
      const named = byService.get(`${c.project}\0${svc}`);
      if (named !== undefined) for (const n of named) deps.add(n);
      else queue.push(...(g.get(svc) ?? [])); // no source of its own: what it needs, in its place
    }
    deps.delete(s.name);
    out.set(s.name, [...deps]);
  }
  return out;
}

/** `names` ordered so every source comes after what it depends on (ties by name). */
export function orderByDependencies(names: readonly string[], deps: ReadonlyMap<string, readonly string[]>): string[] {
  const graph = Object.fromEntries(names.map((n) => [n, { depends_on: (deps.get(n) ?? []).filter((d) => names.includes(d)) }]));
  return dependencyOrder(graph);
}
