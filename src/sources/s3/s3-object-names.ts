/**
 * Object keys as artifact names. An S3 key may hold what an artifact path must not (empty,
 * "." or ".." segments, a leading "/", backslashes, NUL), so each segment is escaped
 * reversibly: "%" → "%25", "\\" → "%5C", NUL → "%00"; an empty segment is "%", "." is "%2E",
 * ".." is "%2E%2E". Other keys keep their look, so the stored tree reads like the bucket.
 */
export const OBJECTS_DIR = 'objects';

export function keyToArtifact(key: string): string {
  const segs = key.split('/').map((s) => {
    if (s === '') return '%';
    if (s === '.') return '%2E';
    if (s === '..') return '%2E%2E';
    return s.replaceAll('%', '%25').replaceAll('\\', '%5C').replaceAll('\0', '%00');
  });
  return `${OBJECTS_DIR}/${segs.join('/')}`;
}

export function artifactToKey(name: string): string {
  if (!name.startsWith(`${OBJECTS_DIR}/`)) throw new RangeError(`not an object artifact: ${name}`);
  return name.slice(OBJECTS_DIR.length + 1).split('/').map((s) => {
    if (s === '%') return '';
    return s.replace(/%(25|5C|00|2E)/g, (_, h: string) => String.fromCharCode(Number.parseInt(h, 16)));
  }).join('/');
}

/**
 * One version of a key (`versions: all`): objects/<key>/%v/<version id>. "%v" cannot be an
 * escaped key segment (a key's "%" is "%25"), so a version never meets a key's own artifact;
 * the version id is URI-encoded, its dots too, so it is one safe segment.
 */
export function versionToArtifact(key: string, versionId: string): string {
  return `${keyToArtifact(key)}/%v/${encodeURIComponent(versionId).replaceAll('.', '%2E')}`;
}
