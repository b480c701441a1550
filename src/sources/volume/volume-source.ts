/**
 * The `volume` source: a named Docker volume, backed up as a restic tree under
 * /volumes/NAME and fingerprinted like `files`, because it is a files source over that path
 * in a helper container that mounts the volume (transport/volume-helper.ts; the composition
 * root gives this source a runner in that helper and makes and removes the helper around
 * each operation). A restore replaces the volume's contents (staged and swapped inside the
 * volume, as a files restore does) while the containers that use it are stopped.
 */
import type { Source } from '../../core/source.ts';
import type { SourceType } from '../source-kit.ts';
import { volumeKeys } from './volume-config.ts';
import type { VolumeConfig } from './volume-config.ts';

/** Where the helper mounts a volume, and so its paths in the snapshot. */
export const volumePath = (volume: string): string => `/volumes/${volume}`;

/** The files source type the volume source works through (given by the registry: sources stay apart). */
export interface VolumeParts {
  readonly files: SourceType<{ paths: string[]; exclude?: string[]; include?: string[] }>;
}

export const volumeType = (parts: VolumeParts) => ({
  type: 'volume',
  description: 'a named Docker or Podman volume, stored as a browsable restic tree through a short-lived helper container; restored while its containers are stopped',
  keys: volumeKeys,
  pathKeys: [],
  create: (name, config, deps): Source => {
    const files = parts.files.create(name, { paths: [volumePath(config.volume)], exclude: config.exclude, include: config.include }, deps);
    return {
      name,
      type: 'volume',
      backup: (sink, ctx) => files.backup(sink, ctx),
      restore: (reader, ctx, opts) => files.restore(reader, ctx, opts),
      fingerprint: (ctx, opts) => files.fingerprint(ctx, opts),
      ...(files.verify ? { verify: files.verify.bind(files) } : {}),
      ...(files.scratchTarget ? { scratchTarget: files.scratchTarget.bind(files) } : {}),
    };
  },
}) satisfies SourceType<VolumeConfig>;
