/**
 * Sections of docs/performance.md that other benches than `npm run bench` own (the stack and
 * scale benches). Each lives between `<!-- bench:NAME:start -->` and `<!-- bench:NAME:end -->`;
 * a bench replaces only its own section, and bench/run.ts carries every section over when it
 * regenerates the rest of the page, so no bench's numbers are lost to another's run.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

const START = (name: string): string => `<!-- bench:${name}:start -->`;
const END = (name: string): string => `<!-- bench:${name}:end -->`;
const SECTION = /<!-- bench:([a-z-]+):start -->[\s\S]*?<!-- bench:\1:end -->\n?/g;

/** Every owned section of `doc`, in order, each ending with a newline. */
export function ownedSections(doc: string): string {
  return [...doc.matchAll(SECTION)].map((m) => (m[0].endsWith('\n') ? m[0] : `${m[0]}\n`)).join('\n');
}

/** Replaces (or appends) section `name` of the page at `file` with `markdown`. */
export function writeSection(file: string, name: string, markdown: string): void {
  const doc = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const block = `${START(name)}\n${markdown.trim()}\n${END(name)}\n`;
  const at = doc.indexOf(START(name));
  const end = doc.indexOf(END(name));
  const next = at >= 0 && end > at
    ? doc.slice(0, at) + block + doc.slice(end + END(name).length).replace(/^\n/, '')
    : `${doc.trimEnd()}\n\n${block}`;
  writeFileSync(file, next);
}
