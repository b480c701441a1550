/** lifeboat.yml keys of a `type: sqlite` source. */
import { z } from 'zod';

export const sqliteKeys = {
  /** The database file the application uses (its -wal/-shm files sit beside it). */
  path: z.string().min(1, { error: 'path: the SQLite database file' }),
};

export const sqliteConfigSchema = z.strictObject(sqliteKeys);
export type SqliteConfig = z.infer<typeof sqliteConfigSchema>;
