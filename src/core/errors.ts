/**
 * Errors. Every failure lifeboat reports is a LifeboatError: a stable `code` callers and
 * scripts branch on, a `hint` that says what to do next, structured `data`, the `cause`,
 * and whether retrying may help (`retryable`, decided where the error is born).
 *
 * Subclasses exist only for what callers branch on. Exit codes are mapped in exactly one
 * place (cli/exit-codes.ts). Messages never contain secrets.
 */

export interface LifeboatErrorOptions {
  hint?: string;
  cause?: unknown;
  data?: Record<string, unknown>;
  retryable?: boolean;
}

export class LifeboatError extends Error {
  readonly code: string;
  readonly hint: string | undefined;
  readonly data: Record<string, unknown>;
  readonly retryable: boolean;

  constructor(code: string, message: string, options: LifeboatErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.hint = options.hint;
    this.data = options.data ?? {};
    this.retryable = options.retryable ?? false;
  }
}

/** A named object does not exist (storage file, snapshot, source, key). */
export class NotFoundError extends LifeboatError {
  constructor(message: string, options: LifeboatErrorOptions = {}) {
    super('not_found', message, options);
  }
}

/** No repository at the location: its config file is not there. */
export class RepositoryNotFoundError extends NotFoundError {
  override readonly code: string = 'repository_not_found';
}

/** Wrong command line usage: unknown flag, missing argument. */
export class UsageError extends LifeboatError {
  constructor(message: string, options: LifeboatErrorOptions = {}) {
    super('usage', message, options);
  }
}

/** lifeboat.yml (or another configuration input) is invalid. */
export class ConfigError extends LifeboatError {
  readonly file: string | undefined;
  readonly line: number | undefined;
  readonly key: string | undefined;
  constructor(message: string, options: LifeboatErrorOptions & { file?: string; line?: number; key?: string } = {}) {
    super('config', message, options);
    this.file = options.file;
    this.line = options.line;
    this.key = options.key;
  }
}

/** Stored bytes are not what they should be: MAC mismatch, hash mismatch, bad header. */
export class IntegrityError extends LifeboatError {
  constructor(message: string, options: LifeboatErrorOptions = {}) {
    super('integrity', message, options);
  }
}

/** No key file of the repository opens with the given password. */
export class WrongPasswordError extends LifeboatError {
  constructor(message = 'wrong password or no key found', options: LifeboatErrorOptions = {}) {
    super('wrong_password', message, {
      hint: 'check the password given by --password-file, LIFEBOAT_PASSWORD or LIFEBOAT_PASSWORD_FILE',
      ...options,
    });
  }
}

/** Another process holds a conflicting lock on the repository. */
export class AlreadyLockedError extends LifeboatError {
  constructor(message: string, options: LifeboatErrorOptions = {}) {
    super('repository_locked', message, options);
  }
}

/** A source (a data store) failed to dump, restore or fingerprint. */
export class SourceError extends LifeboatError {
  constructor(message: string, options: LifeboatErrorOptions = {}) {
    super('source', message, options);
  }
}

/**
 * Where a source's store lives could not be reached or used: the container engine's socket,
 * a container that is not running, a compose service with no container. `code` says which
 * (`transport_unreachable`, `container_not_running`, `container_not_found`).
 */
export class TransportError extends LifeboatError {
  constructor(code: string, message: string, options: LifeboatErrorOptions = {}) {
    super(code, message, options);
  }
}

/** The operation was cancelled (Ctrl-C, AbortSignal). */
export class CancelledError extends LifeboatError {
  constructor(message = 'operation cancelled', options: LifeboatErrorOptions = {}) {
    super('cancelled', message, options);
  }
}

export const isNotFound = (err: unknown): err is NotFoundError => err instanceof NotFoundError;
export const isLifeboatError = (err: unknown): err is LifeboatError => err instanceof LifeboatError;

/** A readable one-line description of any thrown value. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
