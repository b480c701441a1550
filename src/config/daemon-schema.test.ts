import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tempDir } from '../../test/support/tmp.ts';
import { loadConfig } from './loader.ts';
import { writeConfig } from './testing-types.ts';

test('daemon schedules and time zone are checked with file and line; notifications must be known types with secret references', async () => {
  const dir = await tempDir('daemon-config');
  try {
    const load = async (text: string): Promise<string> => {
      const err = await loadConfig(await writeConfig(dir.path, text), { env: { HOME: dir.path } }).then(() => undefined, (e: Error) => e);
      assert.ok(err, 'the config must be refused');
      return err.message;
    };
    const shape = await load(`repository: { url: ./repo, password: { env: PW } }
daemon:
  check: { schedule: "@weekly", read_data_subset: lots }
notifications:
  - { type: pagr, url: "https://example.org" }
  - { type: telegram, bot_token: "123:inline-token", chat_id: 5 }
`);
    assert.match(shape, /:3: daemon\.check\.read_data_subset: expected a share like 5% or n\/t like 1\/7/);
    assert.match(shape, /:5: notifications\[0\]\.type: unknown notification type "pagr"; known types: webhook, healthchecks, ntfy, slack, discord, telegram, email/);
    assert.match(shape, /:6: notifications\[1\]\.bot_token: write the secret as \{ env: NAME \}/);
    assert.ok(!shape.includes('inline-token'), 'an inline secret is not echoed');
    const values = await load(`repository: { url: ./repo, password: { env: PW } }
daemon:
  time_zone: Mars/Olympus
  verify: { schedule: "61 * * * *" }
`);
    assert.match(values, /:3: daemon\.time_zone: unknown time zone "Mars\/Olympus"/);
    assert.match(values, /:4: daemon\.verify\.schedule: minute: 61 is out of range 0–59/);

    const ok = await writeConfig(dir.path, `repository: { url: ./repo, password: { env: PW } }
daemon: { listen: "127.0.0.1:9900", time_zone: Europe/Berlin, prune: { schedule: "CRON_TZ=UTC 30 3 * * *" } }
notifications: [{ type: ntfy, topic: backups, on: [failure, recovery] }]
`);
    const loaded = await loadConfig(ok, { env: { HOME: dir.path } });
    assert.equal(loaded.config.daemon?.time_zone, 'Europe/Berlin');
    assert.equal(loaded.config.notifications?.[0]?.type, 'ntfy');
  } finally {
    await dir.cleanup();
  }
});
