/**
 * Installs the tests' n8n (test/support/n8n.ts) and exits. scripts/test.ts starts it detached
 * before the static checks, so the 10-15 min cold install overlaps them and the other test
 * files; the n8n tests wait on its lock. Its output goes to n8nInstallLog(); a failure here
 * is reported again, with the log, by the tests that need n8n.
 */
import { installN8n, missingN8n } from './n8n.ts';

try {
  if (missingN8n() === false) await installN8n();
} catch {
  process.exitCode = 1; // the tests that need n8n retry the install under the lock and report why
}
