/**
 * Summarises V8 CPU profiles (.cpuprofile files written by `node --cpu-prof`): self time per
 * function, and per coarse area (our sources by folder, libsodium, Node internals, GC, idle).
 * Self time is what the sampled stack's top frame was doing; it points at the code to speed up.
 * Run alone: node bench/profile-summary.ts DIR_OR_FILE...
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}
interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
}
interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface HotSpot {
  readonly name: string;
  readonly where: string;
  readonly selfMs: number;
  readonly share: number;
}
export interface ProfileSummary {
  readonly files: number;
  readonly totalMs: number;
  readonly functions: readonly HotSpot[];
  readonly areas: readonly HotSpot[];
  /** The profiled run's own wall and CPU seconds (profiling slows it a little). */
  readonly wallS?: number;
  readonly cpuS?: number;
}

/** A short location: repository-relative for our code, package name for dependencies. */
function shortUrl(url: string): string {
  if (url === '') return '';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) return url.slice(nm + 'node_modules/'.length).split('/').slice(0, 1).join('/');
  const src = url.indexOf('/src/');
  if (src >= 0) return url.slice(src + 1);
  if (url.startsWith('node:')) return url;
  if (url.startsWith('wasm://')) return `wasm ${url.split('/').pop()}`;
  return path.basename(url);
}

/** Native fs bindings show with an empty url; naming them separates syscalls from other natives. */
const FS_NATIVES = new Set(['read', 'close', 'open', 'openFileHandle', 'writeBuffer', 'writeBuffers', 'writeString', 'lstat', 'stat', 'fstat', 'readdir', 'mkdir', 'utimes', 'futimes', 'chmod', 'fchmod', 'chown', 'lchown', 'symlink', 'readlink', 'rename', 'unlink', 'fsync', 'fdatasync', 'readFileUtf8', 'writeFileUtf8', 'ftruncate', 'copyFile', 'lutimes', 'realpath', 'access', 'existsSync']);

function area(f: CallFrame, wasmModules: ReadonlyMap<string, number>): string {
  const u = f.url;
  if (f.functionName === '(garbage collector)') return 'garbage collector';
  if (f.functionName === '(idle)') return 'idle (main thread waiting: I/O, thread pool)';
  if (f.functionName === '(program)') return 'V8 / native, not attributed';
  if (u.startsWith('wasm://') || f.functionName.startsWith('wasm-function')) {
    // Two wasm modules run: lifeboat's tiny Rabin chunker loop and libsodium's large build.
    return (wasmModules.get(u) ?? 0) < 20 ? 'wasm: Rabin chunker loop' : 'wasm: libsodium';
  }
  if (u.includes('libsodium')) return 'libsodium (JS glue)';
  if (u.includes('node_modules/')) return `dependency ${shortUrl(u)}`;
  const src = u.indexOf('/src/');
  if (src >= 0) return u.slice(src + 1).split('/').slice(0, 2).join('/').replace(/\.ts$/, '');
  if (u === '') return FS_NATIVES.has(f.functionName) ? 'fs syscalls (native bindings)' : 'other native bindings';
  if (u === 'node:zlib') return 'node:zlib zstd (per-call streams)';
  if (u.startsWith('node:internal/crypto')) return 'node:crypto (SHA-256, AES, key objects)';
  if (u.startsWith('node:internal/fs')) return 'node:fs (JS side)';
  if (u.startsWith('node:internal/streams') || u === 'node:stream') return 'node streams';
  if (u.startsWith('node:internal/modules') || u.includes('amaro') || u.startsWith('node:internal/bootstrap')) return 'startup: module loading, type stripping';
  if (u.startsWith('node:')) return 'other Node.js built-ins';
  return shortUrl(u);
}

function collect(inputs: readonly string[]): string[] {
  const files: string[] = [];
  for (const p of inputs) {
    if (statSync(p).isDirectory()) files.push(...readdirSync(p).filter((f) => f.endsWith('.cpuprofile')).map((f) => path.join(p, f)));
    else files.push(p);
  }
  return files;
}

export function summarise(inputs: readonly string[], top = 15): ProfileSummary {
  const fn = new Map<string, { name: string; where: string; ms: number }>();
  const ar = new Map<string, number>();
  let total = 0;
  const files = collect(inputs);
  for (const file of files) {
    const prof = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
    const byId = new Map(prof.nodes.map((n) => [n.id, n.callFrame]));
    const wasmModules = new Map<string, number>();
    for (const n of prof.nodes) {
      const m = /^wasm-function\[(\d+)\]/.exec(n.callFrame.functionName);
      if (m) wasmModules.set(n.callFrame.url, Math.max(wasmModules.get(n.callFrame.url) ?? 0, Number(m[1])));
    }
    for (let i = 0; i < prof.samples.length; i++) {
      const f = byId.get(prof.samples[i]);
      if (!f) continue;
      const ms = (prof.timeDeltas[i] ?? 0) / 1000;
      total += ms;
      const where = f.url ? `${shortUrl(f.url)}:${f.lineNumber + 1}` : '';
      const key = `${f.functionName}@${where}`;
      const e = fn.get(key) ?? { name: f.functionName || '(anonymous)', where, ms: 0 };
      e.ms += ms;
      fn.set(key, e);
      const a = area(f, wasmModules);
      ar.set(a, (ar.get(a) ?? 0) + ms);
    }
  }
  const share = (ms: number): number => (total > 0 ? ms / total : 0);
  const functions = [...fn.values()].sort((a, b) => b.ms - a.ms).slice(0, top).map((e) => ({ name: e.name, where: e.where, selfMs: Math.round(e.ms), share: share(e.ms) }));
  const areas = [...ar.entries()].sort((a, b) => b[1] - a[1]).slice(0, top).map(([name, ms]) => ({ name, where: '', selfMs: Math.round(ms), share: share(ms) }));
  return { files: files.length, totalMs: Math.round(total), functions, areas };
}

if (import.meta.main) {
  const s = summarise(process.argv.slice(2), 25);
  console.log(`${s.files} profile(s), ${s.totalMs} ms sampled\n`);
  for (const a of s.areas) console.log(`${(a.share * 100).toFixed(1).padStart(5)} %  ${a.name}`);
  console.log('');
  for (const f of s.functions) console.log(`${(f.share * 100).toFixed(1).padStart(5)} %  ${f.name}  ${f.where}`);
}
