import { IntegrityError } from '../../core/errors.ts';

/**
 * Tree nodes as restic writes them (internal/restic/node.go): a tree blob is the JSON
 * `{"nodes":[…]}\n`, nodes sorted by name (byte order). `mode` is Go's os.FileMode: the
 * permission bits plus type bits in the high bits (directory 1<<31, symlink 1<<27, …), not
 * the unix st_mode.
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

/** Byte-wise comparison of names, as Go compares strings. */
export function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
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
  for (const k of ['user', 'group', 'inode', 'device_id', 'size', 'links', 'linktarget', 'extended_attributes', 'device'] as const) put(k);
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
  for (const n of nodes as TreeNode[]) {
    if (typeof n?.name !== 'string') throw new IntegrityError(`${what} has a node without a name`);
    n.name = goUnquoteName(n.name);
  }
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
    else if (cp >= 0xd800 && cp <= 0xdfff) out += '\\ufffd'; // lone surrogate: not valid UTF-8
    else if (PRINTABLE.test(ch)) out += ch;
    else if (cp < 0x10000) out += '\\u' + cp.toString(16).padStart(4, '0');
    else out += '\\U' + cp.toString(16).padStart(8, '0');
  }
  return out;
}

/** Inverse of goQuoteName; a name that is not valid quoted text is returned as is. */
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
  return Buffer.from(bytes).toString('utf8');
}
