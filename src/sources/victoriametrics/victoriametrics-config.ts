/**
 * The keys of a `type: victoriametrics` source: a single-node VictoriaMetrics server whose
 * -storageDataPath lifeboat can read (snapshots are files) and, for a restore, replace.
 */
import { z } from 'zod';
import { secretRefSchema } from '../source-kit.ts';

const httpUrl = z.string().refine((s) => {
  try {
    const u = new URL(s);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '' && u.username === '' && u.password === '' && u.search === '';
  } catch {
    return false;
  }
}, { error: 'a URL like http://victoria:8428 (no credentials or query in it)' });

export const victoriametricsKeys = {
  /** The HTTP address of the server (its -httpListenAddr). */
  url: httpUrl,
  /** The server's -storageDataPath, as this host sees it. */
  data_dir: z.string().min(1),
  /** The server's -snapshotAuthKey, when set. */
  auth_key: secretRefSchema.optional(),
  /** Run (bash -c) to stop the server before an in-place restore, and to start it after. */
  stop_command: z.string().min(1).optional(),
  start_command: z.string().min(1).optional(),
  /** The binary a drill starts its scratch server with. */
  server_bin: z.string().min(1).optional(),
};

export const victoriametricsConfigSchema = z.strictObject(victoriametricsKeys);
export type VictoriametricsConfig = z.infer<typeof victoriametricsConfigSchema>;
