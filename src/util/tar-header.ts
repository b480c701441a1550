/**
 * One ustar header block (POSIX.1-1988), for the few small tars lifeboat writes itself (a
 * container engine's archive API takes only tars). Names must fit the 100-byte field: these
 * tars hold names lifeboat chose, never user paths.
 */

export const TAR_BLOCK = 512;

export interface TarEntry {
  readonly name: string;
  /** '0' a regular file, '1' a hard link to `linkname`, '5' a directory. */
  readonly type: '0' | '1' | '5';
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size?: number;
  /** Seconds since the epoch. */
  readonly mtime?: number;
  readonly linkname?: string;
}

function octal(buf: Buffer, offset: number, width: number, value: number): void {
  buf.write(`${value.toString(8).padStart(width - 1, '0')}\0`, offset, width, 'ascii');
}

function text(buf: Buffer, offset: number, width: number, value: string, field: string): void {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length > width) throw new RangeError(`tar ${field} longer than ${width} bytes: ${value}`);
  bytes.copy(buf, offset);
}

export function tarHeader(e: TarEntry): Buffer {
  const b = Buffer.alloc(TAR_BLOCK);
  text(b, 0, 100, e.name, 'name');
  octal(b, 100, 8, e.mode & 0o7777);
  octal(b, 108, 8, e.uid);
  octal(b, 116, 8, e.gid);
  octal(b, 124, 12, e.size ?? 0);
  octal(b, 136, 12, e.mtime ?? 0);
  b.fill(0x20, 148, 156); // the checksum is summed with its own field as spaces
  b.write(e.type, 156, 1, 'ascii');
  text(b, 157, 100, e.linkname ?? '', 'linkname');
  b.write('ustar\0' + '00', 257, 8, 'ascii');
  let sum = 0;
  for (const byte of b) sum += byte;
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return b;
}

/** The two zero blocks that end an archive. */
export const TAR_END: Buffer = Buffer.alloc(2 * TAR_BLOCK);
