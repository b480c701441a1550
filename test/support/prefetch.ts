/**
 * Installs the tests' two slowest servers and exits: n8n from npm (test/support/n8n.ts, 10-15 min
 * cold) and Gitea built through the Go module proxy (test/support/gitea.ts, about 7 CPU-minutes
 * cold). scripts/test.ts starts it detached before the static checks, so cold installs overlap
 * them and the other test files; the tests that need a server wait on its lock. n8n's output
 * goes to n8nInstallLog(); a failure here is reported again, with its cause, by the tests that
 * need the server (they retry the install under the lock).
 */
import { installN8n, missingN8n } from './n8n.ts';
import { giteaInstall } from './gitea.ts';

const results = await Promise.allSettled([
  (async () => {
    if (missingN8n() === false) await installN8n();
  })(),
  giteaInstall(),
]);
if (results.some((r) => r.status === 'rejected')) process.exitCode = 1;
