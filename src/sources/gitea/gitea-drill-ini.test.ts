/**
 * The scratch Gitea's app.ini: nothing in it may lead back to the live instance (its paths,
 * database, shared Redis or MinIO) or out of the machine (mail, webhooks, SSH).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { drillIni, formatIni } from './gitea-drill-ini.ts';
import { giteaLayout, parseIni } from './gitea-dump.ts';

const LIVE = `APP_NAME = Omni Git
RUN_USER = git
WORK_PATH = /data/gitea
[server]
HTTP_PORT = 3000
ROOT_URL = https://git.example.com/
APP_DATA_PATH = /data/gitea/data
SSH_PORT = 22
[database]
DB_TYPE = sqlite3
PATH = /data/gitea/data/gitea.db
[repository]
ROOT = /data/git/repositories
[indexer]
ISSUE_INDEXER_PATH = /data/gitea/data/indexers/issues.bleve
ISSUE_INDEXER_TYPE = elasticsearch
ISSUE_INDEXER_CONN_STR = http://elastic:changeme@es:9200
[storage]
STORAGE_TYPE = minio
MINIO_ENDPOINT = minio:9000
MINIO_SECRET_ACCESS_KEY = s3cret
[storage.attachments]
MINIO_BUCKET = gitea-attachments
[attachment]
PATH = /data/gitea/data/attachments
[cache]
ADAPTER = redis
HOST = redis://redis:6379/0
[queue.issue_indexer]
TYPE = redis
[mailer]
ENABLED = true
SMTP_ADDR = smtp.example.com
[security]
INSTALL_LOCK = true
SECRET_KEY = keep-me
`;

describe('gitea drill app.ini', () => {
  it('moves every live path under the scratch dir and turns remote stores, mail and SSH off', () => {
    const ini = parseIni(LIVE);
    const layout = giteaLayout(ini);
    assert.ok(typeof layout !== 'string');
    const out = drillIni(ini, layout, '/tmp/drill', 41234);
    const text = formatIni(out);
    const back = parseIni(text);
    const get = (s: string, k: string): string | undefined => back.get(s)?.get(k);
    assert.equal(get('', 'WORK_PATH'), '/tmp/drill');
    assert.equal(get('server', 'HTTP_ADDR'), '127.0.0.1');
    assert.equal(get('server', 'HTTP_PORT'), '41234');
    assert.equal(get('server', 'DISABLE_SSH'), 'true');
    assert.equal(get('server', 'SSH_CREATE_AUTHORIZED_KEYS_FILE'), 'false', 'the scratch Gitea would rewrite the live authorized_keys');
    assert.equal(get('server', 'SSH_ROOT_PATH'), '/tmp/drill/ssh');
    assert.equal(get('database', 'PATH'), '/tmp/drill/data/gitea.db');
    assert.equal(get('repository', 'ROOT'), '/tmp/drill/repositories');
    assert.equal(get('indexer', 'ISSUE_INDEXER_PATH'), '/tmp/drill/data/indexers/issues.bleve');
    assert.equal(get('indexer', 'ISSUE_INDEXER_TYPE'), 'db');
    assert.equal(get('storage', 'STORAGE_TYPE'), 'local');
    assert.equal(get('cache', 'ADAPTER'), 'memory');
    assert.equal(get('mailer', 'ENABLED'), 'false');
    assert.equal(get('security', 'SECRET_KEY'), 'keep-me', 'the secret key decrypts stored secrets: kept');
    assert.doesNotMatch(text, /= \/data\//, 'a live path is still in the drill\'s app.ini');
    for (const live of ['minio:9000', 'redis://', 'es:9200', 's3cret', 'smtp.example.com']) {
      assert.ok(!text.includes(live), `${live} is still in the drill's app.ini:\n${text}`);
    }
    assert.ok(![...back.keys()].some((s) => s.startsWith('storage.') || s.startsWith('queue.')));
  });
});
