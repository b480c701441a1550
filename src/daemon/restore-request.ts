/**
 * A restore asked of the daemon (`POST /api/v1/restores`, the dashboard's restore button). A
 * restore replaces live data, so the request is guarded the way GitHub guards deleting a
 * repository: the body must repeat what it destroys, `confirm: "<sources> <short snapshot ID>"`
 * (`"db c0ffee00"`, or `"db,cache latest"` for each source's latest backup), so neither a
 * misclick nor a replayed or scripted request that did not read the plan can start one.
 *
 * This file only reads the request; the daemon decides whether it may run now (allowed by
 * config, no backup of those sources running, no other restore) and the job runner does it
 * through the CLI's own restore use case (safety snapshot first).
 */
import { LifeboatError, UsageError } from '../core/errors.ts';

export interface RestoreInput {
  /** Source names, in the order given; the restore orders them by dependency. */
  readonly sources: readonly string[];
  /** A snapshot ID or unique prefix (one source only), or `latest`: each source's latest backup. */
  readonly snapshot: string;
}

/** A restore the daemon will not start; `code` says why (the server maps it to 403/400/409). */
export class RestoreRefusedError extends LifeboatError {
  constructor(code: 'restore_disabled' | 'confirmation_mismatch' | 'backup_running' | 'restore_running', message: string, hint?: string) {
    super(code, message, { hint });
  }
}

/** What the user must type to confirm: the sources, then the snapshot's first 8 hex digits or `latest`. */
export function confirmationFor(input: RestoreInput): string {
  return `${input.sources.join(',')} ${input.snapshot === 'latest' ? 'latest' : input.snapshot.slice(0, 8)}`;
}

/** Reads a request body `{ sources: [..] | source: "..", snapshot, confirm }`; throws a UsageError or a RestoreRefusedError. */
export function parseRestoreRequest(body: unknown): RestoreInput {
  const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  const raw = b.sources ?? (typeof b.source === 'string' ? [b.source] : undefined);
  if (!Array.isArray(raw) || raw.length === 0 || !raw.every((s) => typeof s === 'string' && /^[A-Za-z0-9_.-]+$/.test(s))) {
    throw new UsageError('a restore needs "sources": a list of source names (or "source": one name)', { hint: 'GET /api/v1/sources lists them' });
  }
  const sources = [...new Set(raw as string[])];
  const snapshot = typeof b.snapshot === 'string' ? b.snapshot.toLowerCase() : 'latest';
  if (snapshot !== 'latest' && !/^[0-9a-f]{8,64}$/.test(snapshot)) throw new UsageError(`snapshot "${String(b.snapshot)}": expected a snapshot ID (at least 8 hex digits) or "latest"`);
  if (snapshot !== 'latest' && sources.length !== 1) throw new UsageError('a snapshot ID belongs to one source: restore one source from it, or several from "latest"');
  const input: RestoreInput = { sources, snapshot };
  const want = confirmationFor(input);
  if (typeof b.confirm !== 'string' || b.confirm.trim() !== want) {
    throw new RestoreRefusedError('confirmation_mismatch', `the restore was not confirmed: "confirm" must be "${want}"`, 'type the source name(s) and the snapshot\'s short ID exactly as shown; a restore replaces live data');
  }
  return input;
}
