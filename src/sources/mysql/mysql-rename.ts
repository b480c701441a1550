/**
 * Loading a dump made with --databases into a database of another name. Such a dump names its
 * database in exactly two kinds of lines, each on a line of its own:
 *
 *   CREATE DATABASE /*!32312 IF NOT EXISTS*\/ `app` /*!40100 DEFAULT CHARACTER SET ... *\/;
 *   USE `app`;
 *
 * Everything else (tables, views, routines, triggers, events) is written unqualified. So the
 * stream is passed through unchanged except for those lines, which get the new name: the
 * copy keeps the original's character set and collation. Lines are handled as latin1 text,
 * which maps every byte to one character and back, so no byte of the data can be altered.
 */
import { quoteIdent } from './mysql-client.ts';

const latin1 = (s: string): string => Buffer.from(s, 'utf8').toString('latin1');

export function renameLine(line: string, from: string, to: string): string {
  const f = latin1(quoteIdent(from));
  const t = latin1(quoteIdent(to));
  if (line === `USE ${f};`) return `USE ${t};`;
  const create = 'CREATE DATABASE /*!32312 IF NOT EXISTS*/ ';
  if (line.startsWith(`${create}${f} `) || line === `${create}${f};`) return `${create}${t}${line.slice(create.length + f.length)}`;
  return line;
}

/** Streams a dump, renaming its database from `from` to `to`. */
export async function* renameDatabase(input: AsyncIterable<Uint8Array>, from: string, to: string): AsyncGenerator<Uint8Array> {
  let carry = '';
  for await (const chunk of input) {
    const text = carry + Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString('latin1');
    const lastNl = text.lastIndexOf('\n');
    if (lastNl < 0) {
      carry = text;
      continue;
    }
    carry = text.slice(lastNl + 1);
    const lines = text.slice(0, lastNl).split('\n');
    // Only lines that can be a CREATE DATABASE or USE line are looked at closely.
    for (let i = 0; i < lines.length; i++) {
      const c = lines[i].charCodeAt(0);
      if (c === 0x55 /* U */ || c === 0x43 /* C */) lines[i] = renameLine(lines[i], from, to);
    }
    yield Buffer.from(`${lines.join('\n')}\n`, 'latin1');
  }
  if (carry !== '') yield Buffer.from(renameLine(carry, from, to), 'latin1');
}
