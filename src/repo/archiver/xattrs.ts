/**
 * Extended attributes, where the platform and file system allow them. Node has no xattr API,
 * so this uses the optional native package fs-xattr (N-API, built from source at install);
 * when it is missing (no compiler at install time) xattrs are skipped, as restic skips them
 * where the file system has none, and a warning says so once per process. Values are stored
 * as restic does: name + base64 value.
 */
import { createRequire } from 'node:module';
import type { ExtendedAttribute } from '../tree/node.ts';

interface XattrModule {
  setAttributeSync(path: string, name: string, value: Buffer): void;
  listAttributesSync(path: string): string[];
  getAttributeSync(path: string, name: string): Buffer;
  setAttribute(path: string, name: string, value: Buffer): Promise<void>;
}

let loaded: XattrModule | null | undefined;
let warned = false;

function xattr(): XattrModule | null {
  if (loaded !== undefined) return loaded;
  try {
    loaded = createRequire(import.meta.url)('fs-xattr') as XattrModule;
  } catch {
    loaded = null; // the optional native module is not installed: xattrs are not supported here
  }
  return loaded;
}

/**
 * Says once per process that attributes are skipped and how to fix it: without the warning a
 * build without a compiler would lose every file's attributes in silence, backup after backup.
 */
function warnMissing(what: string): void {
  if (warned) return;
  warned = true;
  process.emitWarning(
    `${what}: the optional package fs-xattr could not be loaded (it is compiled at install time); ` +
      'install a C++ compiler, make and python3 (Debian: build-essential python3), then run "npm rebuild fs-xattr" where lifeboat is installed',
    { code: 'LIFEBOAT_NO_XATTRS' },
  );
}

export function xattrsSupported(): boolean {
  return xattr() !== null;
}

/**
 * The extended attributes of a file or dir (the module follows symlinks, so links are
 * skipped by the caller). Synchronous, like the rest of the archiver's metadata reads:
 * listxattr costs microseconds, a thread-pool round trip for it costs more, twice per file.
 */
export function readXattrsSync(path: string): ExtendedAttribute[] | undefined {
  const x = xattr();
  if (!x) {
    if (process.platform === 'linux' || process.platform === 'darwin') warnMissing('extended attributes are not backed up');
    return undefined;
  }
  let names: string[];
  try {
    names = x.listAttributesSync(path);
  } catch {
    return undefined; // ENOTSUP, EACCES: "where readable"
  }
  if (names.length === 0) return undefined;
  const out: ExtendedAttribute[] = [];
  for (const name of names.sort()) {
    try {
      out.push({ name, value: x.getAttributeSync(path, name).toString('base64') });
    } catch {
      // an attribute removed or unreadable between list and get is left out
    }
  }
  return out.length > 0 ? out : undefined;
}

/** Sets the attributes on a restored file; returns the names that could not be set. */
export function writeXattrsSync(path: string, attrs: readonly ExtendedAttribute[] | undefined): string[] {
  const x = xattr();
  if (!attrs || attrs.length === 0) return [];
  if (!x) {
    warnMissing('extended attributes are not restored');
    return attrs.map((a) => a.name);
  }
  const failed: string[] = [];
  for (const a of attrs) {
    try {
      x.setAttributeSync(path, a.name, Buffer.from(a.value, 'base64'));
    } catch {
      failed.push(a.name);
    }
  }
  return failed;
}
