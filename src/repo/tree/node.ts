import { IntegrityError } from '../../core/errors.ts';
import { hasRawBytes, nameFromBytes, nameToBytes } from './raw-names.ts';

/**
 * Tree nodes as restic writes them (internal/restic/node.go): a tree blob is the JSON
 * `{"nodes":[…]}\n`, nodes sorted by name (byte order). `mode` is Go's os.FileMode: the
 * permission bits plus type bits in the high bits (directory 1<<31, symlink 1<<27, …), not
 * the unix st_mode.
 *
 * Names and link targets may hold bytes that are not UTF-8 (see raw-names.ts for how they
 * are kept in a string). A tree whose names are unsorted, repeated or unsafe to use as a path
 * component is damaged: decodeTree refuses it, so no walk, restore or check ever acts on it.
 */

export type NodeType = 'file' | 'dir' | 'symlink' | 'dev' | 'chardev' | 'fifo' | 'socket';

export interface ExtendedAttribute {
  readonly name: string;
  /** base64, as Go encodes []byte */
  readonly value: string;
}

export interface TreeNode {
  name: string;
  type: NodeType;
  mode?: number;
  mtime?: string;
  atime?: string;
  ctime?: string;
  uid: number;
  gid: number;
  user?: string;
  group?: string;
  inode?: number;
  device_id?: number;
  size?: number;
  links?: number;
  /** The link target; raw bytes kept as in names (stored as restic's `linktarget_raw`). */
  linktarget?: string;
  extended_attributes?: ExtendedAttribute[];
  device?: number;
  content: string[] | null;
  subtree?: string;
  error?: string;
}

export interface Tree {
  nodes: TreeNode[];
}

// Go's os.FileMode type bits.
export const GO_MODE_DIR = 0x80000000;
export const GO_MODE_SYMLINK = 0x08000000;
export const GO_MODE_DEVICE = 0x04000000;
export const GO_MODE_NAMED_PIPE = 0x02000000;
export const GO_MODE_SOCKET = 0x01000000;
export const GO_MODE_SETUID = 0x00800000;
export const GO_MODE_SETGID = 0x00400000;
export const GO_MODE_CHAR_DEVICE = 0x00200000;
export const GO_MODE_STICKY = 0x00100000;

/** Unix st_mode → Go os.FileMode. */
export function goModeFromUnix(mode: number): number {
  let m = mode & 0o777;
  if (mode & 0o4000) m |= GO_MODE_SETUID;
  if (mode & 0o2000) m |= GO_MODE_SETGID;
  if (mode & 0o1000) m |= GO_MODE_STICKY;
  switch (mode & 0o170000) {
    case 0o040000: m |= GO_MODE_DIR; break;
    case 0o120000: m |= GO_MODE_SYMLINK; break;
    case 0o060000: m |= GO_MODE_DEVICE; break;
    case 0o020000: m |= GO_MODE_DEVICE | GO_MODE_CHAR_DEVICE; break;
    case 0o010000: m |= GO_MODE_NAMED_PIPE; break;
    case 0o140000: m |= GO_MODE_SOCKET; break;
  }
  return m >>> 0;
}

/** Go os.FileMode → the permission bits (with setuid/setgid/sticky) for chmod. */
export function unixPermFromGoMode(mode: number): number {
  let m = mode & 0o777;
  if (mode & GO_MODE_SETUID) m |= 0o4000;
  if (mode & GO_MODE_SETGID) m |= 0o2000;
  if (mode & GO_MODE_STICKY) m |= 0o1000;
  return m;
}

const SURROGATE = /[\uD800-\uDFFF]/;

/** Byte-wise comparison of names, as Go compares strings. */
export function compareNames(a: string, b: string): number {
  // Without surrogates, UTF-16 code unit order is code point order, which is UTF-8 byte order.
  if (!SURROGATE.test(a) && !SURROGATE.test(b)) return a < b ? -1 : a > b ? 1 : 0;
  return Buffer.compare(nameToBytes(a), nameToBytes(b));
}

/** Why a name cannot be a path component of a restore, or undefined when it can. */
export function unsafeName(name: string): string | undefined {
  if (name === '') return 'an empty name';
  if (name === '.' || name === '..') return `the name ${JSON.stringify(name)}`;
  if (name.includes('/')) return `a name with "/" (${JSON.stringify(name)})`;
  if (name.includes('\0')) return `a name with a NUL byte (${JSON.stringify(name)})`;
  return undefined;
}

/**
 * Checks what restic guarantees of a tree and a restore relies on: every name is safe as a
 * path component and the names are strictly sorted by bytes (so unique). Throws an
 * IntegrityError naming the tree and the first offending name.
 */
export function validateTreeNames(nodes: readonly TreeNode[], what: string): void {
  for (let i = 0; i < nodes.length; i++) {
    const name = (nodes[i] as TreeNode).name;
    const unsafe = unsafeName(name);
    if (unsafe !== undefined) throw new IntegrityError(`${what} is damaged: it holds ${unsafe}`, { data: { malformedTree: true } });
    if (i === 0) continue;
    const prev = (nodes[i - 1] as TreeNode).name;
    const order = compareNames(prev, name);
    if (order === 0) throw new IntegrityError(`${what} is damaged: the name ${JSON.stringify(name)} appears twice`, { data: { malformedTree: true } });
    if (order > 0) throw new IntegrityError(`${what} is damaged: its names are not sorted (${JSON.stringify(prev)} before ${JSON.stringify(name)})`, { data: { malformedTree: true } });
  }
}

export function encodeTree(tree: Tree): Buffer {
  const nodes = [...tree.nodes].sort((a, b) => compareNames(a.name, b.name));
  for (let i = 1; i < nodes.length; i++) {
    if ((nodes[i] as TreeNode).name === (nodes[i - 1] as TreeNode).name) throw new Error(`duplicate name in tree: ${(nodes[i] as TreeNode).name}`);
  }
  return Buffer.from(JSON.stringify({ nodes: nodes.map(orderNode) }) + '\n', 'utf8');
}

/** Writes keys in restic's field order, dropping empty optional fields (Go's omitempty). */
function orderNode(n: TreeNode): Record<string, unknown> {
  const o: Record<string, unknown> = { name: goQuoteName(n.name), type: n.type };
  const put = (k: keyof TreeNode): void => {
    const v = n[k];
    if (v !== undefined && v !== '' && v !== 0 && !(Array.isArray(v) && v.length === 0 && k !== 'content')) o[k] = v;
  };
  put('mode');
  put('mtime');
  put('atime');
  put('ctime');
  o.uid = n.uid;
  o.gid = n.gid;
  for (const k of ['user', 'group', 'inode', 'device_id', 'size', 'links'] as const) put(k);
  if (n.linktarget !== undefined && hasRawBytes(n.linktarget)) {
    // As restic: the text form (invalid bytes shown as U+FFFD) for older readers, and the bytes.
    const raw = nameToBytes(n.linktarget);
    o.linktarget = raw.toString('utf8');
    o.linktarget_raw = raw.toString('base64');
  } else {
    put('linktarget');
  }
  for (const k of ['extended_attributes', 'device'] as const) put(k);
  o.content = n.content;
  put('subtree');
  put('error');
  return o;
}

export function decodeTree(plain: Buffer, what: string): Tree {
  let doc: unknown;
  try {
    doc = JSON.parse(plain.toString('utf8'));
  } catch (err) {
    throw new IntegrityError(`${what} is not valid JSON`, { cause: err });
  }
  const nodes = (doc as { nodes?: unknown }).nodes;
  if (!Array.isArray(nodes)) throw new IntegrityError(`${what} has no node list`);
  for (const n of nodes as Array<TreeNode & { linktarget_raw?: unknown }>) {
    if (typeof n?.name !== 'string') throw new IntegrityError(`${what} has a node without a name`);
    n.name = goUnquoteName(n.name);
    if (n.linktarget_raw !== undefined) {
      if (typeof n.linktarget_raw !== 'string') throw new IntegrityError(`${what} is damaged: the node ${JSON.stringify(n.name)} has an invalid linktarget_raw`, { data: { malformedTree: true } });
      n.linktarget = nameFromBytes(Buffer.from(n.linktarget_raw, 'base64'));
      delete n.linktarget_raw;
    }
  }
  validateTreeNames(nodes as TreeNode[], what);
  return { nodes: nodes as TreeNode[] };
}

/**
 * restic (up to at least 0.16) stores node names Go-quoted without the surrounding quotes:
 * Node.MarshalJSON applies strconv.Quote and UnmarshalJSON strconv.Unquote. So "a\nb" is
 * stored as the characters a, \, n, b. We do the same, or restic cannot read our trees.
 */
const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u;

export function goQuoteName(name: string): string {
  let out = '';
  for (const ch of name) {
    const cp = ch.codePointAt(0) as number;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (cp < 0x80 && PRINTABLE.test(ch)) out += ch;
    else if (ch === '\x07') out += '\\a';
    else if (ch === '\b') out += '\\b';
    else if (ch === '\f') out += '\\f';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\v') out += '\\v';
    else if (cp < 0x20 || cp === 0x7f) out += '\\x' + cp.toString(16).padStart(2, '0');
    else if (cp >= 0xdc80 && cp <= 0xdcff) out += '\\x' + (cp - 0xdc00).toString(16); // a raw byte (raw-names.ts), as Go quotes it
    else if (cp >= 0xd800 && cp <= 0xdfff) out += '\\ufffd'; // lone surrogate: not valid UTF-8
    else if (PRINTABLE.test(ch)) out += ch;
    else if (cp < 0x10000) out += '\\u' + cp.toString(16).padStart(4, '0');
    else out += '\\U' + cp.toString(16).padStart(8, '0');
  }
  return out;
}

/**
 * Inverse of goQuoteName; a name that is not valid quoted text is returned as is. Bytes that
 * are not UTF-8 (`\xff`) are kept as raw-names.ts describes.
 */
export function goUnquoteName(s: string): string {
  if (!s.includes('\\')) return s;
  const bytes: number[] = [];
  const pushStr = (t: string): void => {
    for (const b of Buffer.from(t, 'utf8')) bytes.push(b);
  };
  const simple: Record<string, number> = { a: 7, b: 8, f: 12, n: 10, r: 13, t: 9, v: 11, '\\': 92, '"': 34, "'": 39 };
  for (let i = 0; i < s.length; i++) {
    const c = s[i] as string;
    if (c !== '\\') {
      const cp = s.codePointAt(i) as number;
      const ch = String.fromCodePoint(cp);
      pushStr(ch);
      i += ch.length - 1;
      continue;
    }
    const e = s[i + 1];
    if (e === undefined) return s;
    if (e in simple) {
      bytes.push(simple[e] as number);
      i += 1;
    } else if (e === 'x') {
      const h = s.slice(i + 2, i + 4);
      if (!/^[0-9a-fA-F]{2}$/.test(h)) return s;
      bytes.push(Number.parseInt(h, 16));
      i += 3;
    } else if (e === 'u' || e === 'U') {
      const n = e === 'u' ? 4 : 8;
      const h = s.slice(i + 2, i + 2 + n);
      if (!new RegExp(`^[0-9a-fA-F]{${n}}$`).test(h)) return s;
      pushStr(String.fromCodePoint(Number.parseInt(h, 16)));
      i += 1 + n;
    } else if (/[0-7]/.test(e)) {
      const o = s.slice(i + 1, i + 4);
      if (!/^[0-7]{3}$/.test(o)) return s;
      bytes.push(Number.parseInt(o, 8));
      i += 3;
    } else return s;
  }
  return nameFromBytes(Buffer.from(bytes));
}
