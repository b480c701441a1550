/**
 * The keys of a `type: vault` source: a HashiCorp Vault or OpenBao cluster on integrated (raft)
 * storage. The token and the unseal keys are secret references, never inline values.
 */
import { z } from 'zod';
import { secretRefSchema } from '../source-kit.ts';

export const vaultUrl = z
  .string()
  .refine((s) => {
    try {
      const u = new URL(s);
      return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '' && u.username === '' && u.password === '';
    } catch {
      return false;
    }
  }, { error: 'a URL like https://vault.internal:8200 (no credentials in it: use token)' });

export const vaultKeys = {
  /** The API address of the cluster's active node (or any node: standbys forward). */
  url: vaultUrl,
  /** A token with read on sys/storage/raft/snapshot, update on snapshot(-force), read on sys/mounts, sys/auth, sys/policies/acl. */
  token: secretRefSchema,
  /**
   * The unseal keys of this cluster, one per line (threshold many): after a restore into another
   * cluster (a drill, restore.to) the node takes the snapshot's keyring and must be unsealed
   * with them. Not needed with auto-unseal.
   */
  unseal_keys: secretRefSchema.optional(),
  /** A token valid on the restore.to cluster (its own root or operator token); default: token. */
  target_token: secretRefSchema.optional(),
  /**
   * KV version 2 secrets ("mount/path", e.g. "secret/lifeboat/canary") whose content hash joins
   * the fingerprint, so a restore is proven on data, not only on mounts and policies.
   */
  canaries: z.array(z.string().regex(/^[^/\s]+\/\S+$/, { error: 'a KV v2 secret as mount/path, e.g. secret/lifeboat/canary' })).optional(),
  /** The server binary a drill starts its scratch node with (bao or vault). */
  server_bin: z.string().min(1).optional(),
};

export const vaultConfigSchema = z.strictObject(vaultKeys);
export type VaultConfig = z.infer<typeof vaultConfigSchema>;
