/**
 * Maps a key path of the parsed config (["sources", "redis", "url"]) back to the line of
 * lifeboat.yml it was written on, using the node ranges the yaml parser keeps.
 *
 * For a key of a mapping the line is the key's own line (a block value starts on the next
 * line, but the key is what the user looks for); for a list item, the item's line. When the
 * path goes further than the document (a missing key), the deepest existing node's line.
 */
import { isAlias, isMap, isScalar, isSeq } from 'yaml';
import type { Document, LineCounter, Node } from 'yaml';

export function lineOf(doc: Document, lines: LineCounter, keyPath: ReadonlyArray<string | number>): number {
  let node: unknown = doc.contents;
  let line = startLine(node, lines) ?? 1;
  for (const seg of keyPath) {
    // An alias stands for the anchored node; errors inside it point at the anchor.
    if (isAlias(node)) node = node.resolve(doc);
    if (isMap(node)) {
      const pair = node.items.find((p) => (isScalar(p.key) ? String(p.key.value) : String(p.key)) === String(seg));
      if (!pair) return line;
      line = startLine(pair.key, lines) ?? line;
      node = pair.value;
    } else if (isSeq(node)) {
      const item = typeof seg === 'number' ? node.items[seg] : undefined;
      if (item === undefined) return line;
      line = startLine(item, lines) ?? line;
      node = item;
    } else {
      return line;
    }
  }
  return line;
}

function startLine(node: unknown, lines: LineCounter): number | undefined {
  const range = (node as Node | null | undefined)?.range;
  return range ? lines.linePos(range[0]).line : undefined;
}
