/**
 * A storage backend as the registry (storage/registry.ts) knows it: its URL scheme, how a
 * location is shown without credentials, and how it is opened. Each backend folder declares
 * one in `<x>-backend.ts`, light to import (a heavy SDK is loaded by `open`, only when used).
 */
import type { Storage } from './storage.ts';

export interface StorageBackend {
  /** The scheme before the colon: `rest` in `rest:http://host:8000/`. */
  readonly scheme: string;
  /** An example location, for help texts and hints. */
  readonly example: string;
  /** Reached over a network: the composition root wraps it in the retrying wrapper. */
  readonly isRemote: boolean;
  /** Checks a location's syntax without opening anything; throws a UsageError naming the problem. */
  parse(location: string): void;
  /** The location fit for messages and reports (no user, password or token). */
  redact(location: string): string;
  open(location: string, opts: { env?: NodeJS.ProcessEnv }): Promise<Storage>;
}
