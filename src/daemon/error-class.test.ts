import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AlreadyLockedError, ConfigError, LifeboatError, SourceError, TransportError, WrongPasswordError } from '../core/errors.ts';
import { classifyError, retryDelay } from './error-class.ts';

const errno = (code: string, message: string, syscall?: string) => Object.assign(new Error(message), { code, ...(syscall ? { syscall } : {}) });

test('a source\'s failures are classified: network retried, auth and a missing tool alerted at once, a full disk not retried', () => {
  const cases: Array<[string, unknown, string]> = [
    // The server is down or unreachable: retry with backoff.
    ['redis refused', new SourceError('cache: cannot connect: connect ECONNREFUSED 127.0.0.1:6390', { cause: errno('ECONNREFUSED', 'connect ECONNREFUSED'), retryable: true }), 'transient'],
    ['a timeout deep in the cause chain', new SourceError('db: query failed', { cause: new Error('socket', { cause: errno('ETIMEDOUT', 'read ETIMEDOUT') }) }), 'transient'],
    ['pg_dump could not connect', new SourceError('db: pg_dump failed (exit 1): pg_dump: error: connection to server at "127.0.0.1", port 5999 failed: Connection refused', { data: { code: 1 } }), 'transient'],
    ['mariadb-dump could not connect', new SourceError('shop: mariadb-dump failed (exit 2): mariadb-dump: Got error: 2002: "Can\'t connect to server on \'127.0.0.1\' (115)"', { data: { code: 2 } }), 'transient'],
    ['a container that is not running', new TransportError('container_not_running', 'container db is not running'), 'transient'],
    ['an HTTP store answering 503', new SourceError('search: GET / answered HTTP 503', { retryable: true, data: { status: 503 } }), 'transient'],
    // The credentials are wrong: alert at once, no retry.
    ['postgres password', new SourceError('db: pg_dump failed (exit 1): FATAL:  password authentication failed for user "app"', { data: { code: 1 } }), 'auth'],
    ['redis WRONGPASS', new SourceError('cache: authentication failed (WRONGPASS)'), 'auth'],
    ['mariadb access denied', new SourceError('shop: mariadb-dump failed (exit 2): Access denied for user \'app\'@\'localhost\' (using password: YES)'), 'auth'],
    ['an HTTP store answering 401', new SourceError('vault: GET /v1/sys answered HTTP 401', { data: { status: 401 } }), 'auth'],
    // The dump tool is not installed: a configuration problem of this host.
    ['spawn ENOENT', new SourceError('db: cannot run pg_dump', { cause: errno('ENOENT', 'spawn pg_dump ENOENT', 'spawn pg_dump') }), 'config'],
    ['shell exit 127', new SourceError('app: backup_command failed (exit 127): sh: 1: mysqldump: not found', { data: { code: 127 } }), 'config'],
    ['a command source\'s exit 127', new SourceError('source app: backup_command exited with code 127; stderr ends with:\nsh: 1: dumper: not found | x', { data: { command: 'backup_command', exitCode: 127 } }), 'config'],
    // No space: alert, never retry into a full disk.
    ['ENOSPC', new LifeboatError('storage', 'write data/ab…: no space', { cause: errno('ENOSPC', 'ENOSPC: no space left on device, write') }), 'disk_full'],
    ['a dump tool out of space', new SourceError('db: pg_dump failed (exit 1): could not write to output file: No space left on device'), 'disk_full'],
    // The rest, as before.
    ['wrong repository password', new WrongPasswordError(), 'fatal'],
    ['bad config', new ConfigError('sources.db: unknown key'), 'fatal'],
    ['locked', new AlreadyLockedError('repository is locked'), 'locked'],
    ['a dump that failed', new SourceError('app: backup_command failed (exit 1)', { data: { code: 1 } }), 'failed'],
    // A backup's failure carries the class its source's error had when it was caught (ops/backup-run.ts).
    ['a backup run that recorded transient', new LifeboatError('backup_failed', 'cache: cannot connect', { data: { failure_class: 'transient' } }), 'transient'],
    ['a backup run that recorded auth', new LifeboatError('backup_failed', 'db: …', { data: { failure_class: 'auth' } }), 'auth'],
    ['a backup run that recorded tool_missing', new LifeboatError('backup_failed', 'db: …', { data: { failure_class: 'tool_missing' } }), 'config'],
    ['a backup run that recorded disk_full', new LifeboatError('backup_failed', 'db: …', { data: { failure_class: 'disk_full' } }), 'disk_full'],
    ['a backup run that recorded other', new LifeboatError('backup_failed', 'db: …', { data: { failure_class: 'other' } }), 'failed'],
  ];
  for (const [what, err, cls] of cases) assert.equal(classifyError(err), cls, what);
});

test('only transient and locked failures are retried', () => {
  assert.deepEqual([1, 2, 3, 4].map((a) => retryDelay('transient', a)), [30_000, 120_000, 480_000, undefined]);
  assert.equal(retryDelay('locked', 1), 300_000);
  for (const cls of ['fatal', 'auth', 'config', 'disk_full', 'failed'] as const) assert.equal(retryDelay(cls, 1), undefined, cls);
});
