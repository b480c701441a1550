/**
 * The one performance hint callers above the engine give: "much data will be encoded or
 * decoded soon" (a restore, `check --read-data`, a first backup). The codec threads then start
 * at once and load their modules while the key's scrypt and the lock's wait run, instead of at
 * the first blob. How the engine encodes (threads, pools) stays behind this call.
 */
import { CodecPool } from './codec/codec-pool.ts';

export function expectBulkData(): void {
  CodecPool.shared().prestart();
}
