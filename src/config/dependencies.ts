/**
 * `depends_on` between sources: an app's database is restored before the app's files, and a
 * cycle is a configuration error that names the cycle. The order is topological and, among
 * sources that are ready at the same time, by name, so that it is the same on every run.
 */
import { ConfigError } from '../core/errors.ts';

/** Source name → the names it depends on. */
export type DependencyGraph = Readonly<Record<string, { readonly depends_on?: readonly string[] }>>;

/**
 * A cycle in the graph as the list of names along it, first name repeated at the end
 * (["a", "b", "a"]), starting at its smallest name; undefined when there is none.
 * Names not in the graph are ignored (they are reported separately).
 */
export function findCycle(graph: DependencyGraph): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (n: string): string[] | undefined => {
    state.set(n, 'open');
    stack.push(n);
    for (const dep of [...new Set(graph[n]?.depends_on ?? [])].sort()) {
      if (!Object.hasOwn(graph, dep)) continue;
      if (state.get(dep) === 'open') return stack.slice(stack.indexOf(dep));
      if (state.get(dep) === undefined) {
        const found = visit(dep);
        if (found) return found;
      }
    }
    stack.pop();
    state.set(n, 'done');
    return undefined;
  };
  for (const n of Object.keys(graph).sort()) {
    if (state.get(n) !== undefined) continue;
    const cycle = visit(n);
    if (cycle) {
      const start = cycle.indexOf([...cycle].sort()[0]);
      const rotated = [...cycle.slice(start), ...cycle.slice(0, start)];
      return [...rotated, rotated[0]];
    }
  }
  return undefined;
}

/**
 * The source names in dependency order: every source after the sources it depends on; ties
 * broken by name. Throws a ConfigError naming the cycle if there is one.
 */
export function dependencyOrder(graph: DependencyGraph): string[] {
  const cycle = findCycle(graph);
  if (cycle) {
    throw new ConfigError(`dependency cycle between sources: ${cycle.join(' -> ')}`, {
      key: `sources.${cycle[0]}.depends_on`,
      hint: 'remove one of the depends_on entries along the cycle',
    });
  }
  const names = Object.keys(graph);
  const waitingOn = new Map<string, number>();
  const dependents = new Map<string, string[]>();
  for (const n of names) {
    const deps = [...new Set(graph[n].depends_on ?? [])].filter((d) => Object.hasOwn(graph, d));
    waitingOn.set(n, deps.length);
    for (const d of deps) dependents.set(d, [...(dependents.get(d) ?? []), n]);
  }
  const ready = names.filter((n) => waitingOn.get(n) === 0);
  const order: string[] = [];
  while (ready.length > 0) {
    // A handful of sources: sorting the ready list each round is plenty fast.
    ready.sort();
    const n = ready.shift() as string;
    order.push(n);
    for (const m of dependents.get(n) ?? []) {
      const left = (waitingOn.get(m) as number) - 1;
      waitingOn.set(m, left);
      if (left === 0) ready.push(m);
    }
  }
  return order;
}
