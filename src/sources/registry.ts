/** Every source type lifeboat knows, by the `type:` of lifeboat.yml. */
import { registerSourceType } from './source-kit.ts';
import type { RegisteredSourceType } from './source-kit.ts';
import { postgresType } from './postgres/postgres-source.ts';
import { mysqlType } from './mysql/mysql-source.ts';
import { redisType } from './redis/redis-source.ts';
import { sqliteType } from './sqlite/sqlite-source.ts';
import { filesType } from './files/files-source.ts';
import { volumeType } from './volume/volume-source.ts';
import { commandType } from './command/command-source.ts';
import { qdrantType } from './qdrant/qdrant-source.ts';
import { wikijsType } from './wikijs/wikijs-source.ts';
import { n8nType } from './n8n/n8n-source.ts';
import { opensearchType } from './opensearch/opensearch-source.ts';
import { neo4jType } from './neo4j/neo4j-source.ts';
import { vaultType } from './vault/vault-source.ts';
import { s3Type } from './s3/s3-source.ts';
import { victoriametricsType } from './victoriametrics/victoriametrics-source.ts';
import { giteaType } from './gitea/gitea-source.ts';

export const sourceTypes: ReadonlyMap<string, RegisteredSourceType> = new Map(
  [
    registerSourceType(postgresType), registerSourceType(mysqlType), registerSourceType(redisType), registerSourceType(sqliteType),
    registerSourceType(filesType), registerSourceType(volumeType({ files: filesType })), registerSourceType(commandType), registerSourceType(qdrantType),
    registerSourceType(wikijsType({ postgres: postgresType, files: filesType })), registerSourceType(n8nType),
    registerSourceType(opensearchType), registerSourceType(neo4jType), registerSourceType(vaultType),
    registerSourceType(victoriametricsType), registerSourceType(s3Type), registerSourceType(giteaType),
  ].map((t) => [t.type, t]),
);
