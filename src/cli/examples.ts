/**
 * The "Examples:" section of each command's --help, by command path ("config init"). Kept in
 * one place, beside no command's code, so every command gets one the same way (main.ts adds
 * them after registering) and a test can require one of every registered command.
 */
import type { Command } from 'commander';

export const EXAMPLES: Readonly<Record<string, readonly string[]>> = {
  '': [
    'lifeboat config init --detect && lifeboat config check   # a lifeboat.yml for this machine',
    'lifeboat init && lifeboat backup                         # the repository, then every source',
    'lifeboat restore --dry-run                               # what a restore would do',
  ],
  demo: ['lifeboat demo                     # backup, change, backup, restore of throwaway data', 'lifeboat demo --keep              # keep the scratch directory to look at'],
  init: ['lifeboat init                     # the repository of lifeboat.yml', 'lifeboat -r /srv/backups init     # a local repository (password: env LIFEBOAT_PASSWORD or -p FILE)', 'lifeboat -r s3:https://s3.example.com/bucket/lifeboat init'],
  backup: [
    'lifeboat backup                          # every source of lifeboat.yml',
    'lifeboat backup --only postgres,redis    # some of them',
    'lifeboat -r /srv/backups backup /srv/app/data --exclude "*.tmp" --tag app',
    'pg_dump -Fc app | lifeboat -r /srv/backups backup --stdin --stdin-filename app.dump',
  ],
  snapshots: ['lifeboat snapshots', 'lifeboat snapshots --tag postgres --latest 5', 'lifeboat --json snapshots --host db1'],
  ls: ['lifeboat ls latest', 'lifeboat ls -l 4bba301e /srv/app/data'],
  restore: [
    'lifeboat restore --dry-run                       # stack mode: print the plan of every source',
    'lifeboat restore --only postgres --at "2h ago"   # one source as it was two hours ago',
    'lifeboat restore --only postgres --to app_copy   # into another database, the live one untouched',
    'lifeboat -r /srv/backups restore latest --target /tmp/restore --include /srv/app/data',
  ],
  dump: ['lifeboat dump latest /srv/app/config.yml > config.yml', 'lifeboat -r /srv/backups dump latest /app.dump | pg_restore -d app_copy'],
  verify: ['lifeboat verify                   # every source\'s latest snapshot against its backup-time fingerprint', 'lifeboat verify --only postgres --read-data-subset 10%'],
  drill: ['lifeboat drill --synthetic        # rehearse on throwaway stores: populate, back up, wipe, restore, verify', 'lifeboat drill --only postgres     # restore the latest snapshot into a scratch store; measures RTO'],
  report: ['lifeboat report                   # RPO and last run of every source', 'lifeboat --json report --no-repository'],
  check: ['lifeboat check', 'lifeboat check --read-data-subset 5%'],
  forget: ['lifeboat forget --prune                                  # each source\'s retention from lifeboat.yml', 'lifeboat -r /srv/backups forget --keep-daily 7 --keep-weekly 4 --dry-run', 'lifeboat forget 4bba301e'],
  prune: ['lifeboat prune --dry-run', 'lifeboat prune --max-unused 10%'],
  copy: ['lifeboat copy --to /mnt/offsite/lifeboat --to-password-file ~/.offsite-pw --init-to', 'lifeboat copy --only postgres --to rest:http://offsite:8000/lifeboat/'],
  stats: ['lifeboat stats', 'lifeboat --json stats'],
  key: ['lifeboat key list', 'lifeboat key add --new-password-file ~/second-password'],
  'key list': ['lifeboat key list'],
  'key add': ['lifeboat key add --new-password-file ~/second-password   # or env LIFEBOAT_NEW_PASSWORD'],
  'key remove': ['lifeboat key remove 5c3a1f0e'],
  'key passwd': ['lifeboat key passwd --new-password-file ~/new-password'],
  unlock: ['lifeboat unlock                   # remove stale locks (of processes that are gone)', 'lifeboat unlock --remove-all      # every lock: only when no lifeboat or restic runs'],
  cat: ['lifeboat cat config', 'lifeboat cat snapshot 4bba301e'],
  config: ['lifeboat config init --detect     # a starter lifeboat.yml with the stores found on this machine', 'lifeboat config check'],
  'config check': ['lifeboat config check', 'lifeboat -c /etc/lifeboat/lifeboat.yml config check'],
  'config init': ['lifeboat config init                       # ./lifeboat.yml, commented', 'lifeboat config init --detect              # with PostgreSQL, MariaDB, Redis found on 127.0.0.1', 'lifeboat -c /etc/lifeboat/lifeboat.yml config init'],
  daemon: ['lifeboat daemon                   # run the schedules of lifeboat.yml until stopped', 'lifeboat daemon --listen 127.0.0.1:9876'],
  diff: ['lifeboat diff 4bba301e latest', 'lifeboat --json diff --metadata 4bba301e 79766175'],
  find: ['lifeboat find "*.sql"', 'lifeboat find -i --long "config.yml"', 'lifeboat find --blob --show-pack-id 5c3a1f0e'],
  tag: ['lifeboat tag --add keep 4bba301e', 'lifeboat tag --tag source:postgres --remove old --add archived'],
  rewrite: ['lifeboat rewrite --exclude "*.log" --dry-run', 'lifeboat rewrite --exclude-file excludes.txt --forget 4bba301e'],
  repair: ['lifeboat repair index', 'lifeboat repair packs 5c3a1f0e && lifeboat repair snapshots --forget'],
  'repair index': ['lifeboat repair index                # after "lifeboat check" names a missing or damaged index'],
  'repair snapshots': ['lifeboat repair snapshots --dry-run', 'lifeboat repair snapshots --forget   # replace the damaged snapshots'],
  'repair packs': ['lifeboat repair packs 5c3a1f0e'],
  list: ['lifeboat list snapshots', 'lifeboat list packs'],
  recover: ['lifeboat recover                  # a snapshot of "/recover" holding trees no snapshot references'],
  'rebuild-index': ['lifeboat rebuild-index             # restic 0.14\'s name for "repair index"'],
  notify: ['lifeboat notify test'],
  'notify test': ['lifeboat notify test              # one test alert to every channel of lifeboat.yml'],
  metrics: ['lifeboat metrics', 'lifeboat metrics --textfile /var/lib/node_exporter/lifeboat.prom'],
};

/**
 * Adds the Examples section to `command` and its subcommands, where EXAMPLES has one; the
 * program itself is the path '' (its subcommands are "backup", "config check", …).
 */
export function addExamples(command: Command, name = ''): void {
  const lines = EXAMPLES[name];
  if (lines !== undefined) command.addHelpText('after', `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`);
  for (const sub of command.commands) addExamples(sub, name === '' ? sub.name() : `${name} ${sub.name()}`);
}
