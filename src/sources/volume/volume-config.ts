/** lifeboat.yml keys of a `type: volume` source: a named Docker (or Podman) volume. */
import { z } from 'zod';

export const volumeKeys = {
  /** The volume's name (docker volume ls). */
  volume: z.string().regex(/^[A-Za-z0-9][\w.-]*$/, { error: 'a volume name (docker volume ls), like omni_uploads' }),
  /** Image of the short-lived helper container that mounts the volume; default: the image of a container using it. */
  helper_image: z.string().min(1).optional(),
  /** Globs of what to leave out, matched against /volumes/NAME/… and against the base name. */
  exclude: z.array(z.string().min(1)).optional(),
  /** If given, only files matching one of these globs are kept; directories are always walked. */
  include: z.array(z.string().min(1)).optional(),
};

export const volumeConfigSchema = z.strictObject(volumeKeys);
export type VolumeConfig = z.infer<typeof volumeConfigSchema>;
