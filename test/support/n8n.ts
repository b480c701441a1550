/**
 * n8n for the n8n source's tests. A real n8n (2.41.1: `npm install n8n@2.41.1 --ignore-scripts`,
 * then `npm rebuild sqlite3 isolated-vm`, ~11 min and 2.8 GB cold) is too heavy to install in
 * CI, so `cachedN8n` only finds one already installed in the cache; the tests that need it skip
 * otherwise. `fakeN8nCli` writes a stand-in for the CLI's export/import commands (their flags,
 * the "No … found" failure on an empty export, overwrite by id, imports made inactive), kept in
 * $N8N_USER_FOLDER/.n8n/fake-db.json, which records each call's argv and whether
 * N8N_ENCRYPTION_KEY was set.
 */
import { existsSync } from 'node:fs';
import { chmod, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';

export const N8N_VERSION = '2.41.1';

/** The n8n CLI of a cached install, or undefined. */
export function cachedN8n(): string | undefined {
  const bin = path.join(process.env.LIFEBOAT_TEST_CACHE ?? path.join(homedir(), '.cache', 'lifeboat-test'), `n8n-${N8N_VERSION}`, 'node_modules', '.bin', 'n8n');
  return existsSync(bin) ? bin : undefined;
}

const FAKE = String.raw`#!/usr/bin/env node
const fs = require('node:fs');
const path = require('node:path');
const home = process.env.N8N_USER_FOLDER || require('node:os').homedir();
const dbFile = path.join(home, '.n8n', 'fake-db.json');
fs.mkdirSync(path.dirname(dbFile), { recursive: true });
const db = fs.existsSync(dbFile) ? JSON.parse(fs.readFileSync(dbFile, 'utf8')) : { workflows: [], credentials: [], calls: [] };
db.calls.push({ argv: process.argv.slice(2), key: process.env.N8N_ENCRYPTION_KEY !== undefined, dbType: process.env.DB_TYPE || null });
const save = () => fs.writeFileSync(dbFile, JSON.stringify(db));
const [cmd, ...args] = process.argv.slice(2);
const flag = (n) => (args.find((a) => a.startsWith('--' + n + '=')) || '').slice(n.length + 3);
const kind = { 'export:workflow': 'workflows', 'import:workflow': 'workflows', 'export:credentials': 'credentials', 'import:credentials': 'credentials' }[cmd];
console.log('n8n Task Broker ready on 127.0.0.1, port 5679');
if (!kind) { console.error('Error: command ' + cmd + ' not found'); save(); process.exit(1); }
if (cmd.startsWith('export:')) {
  if (!args.includes('--all')) { console.error('Flag "--all" or "--id" required'); save(); process.exit(1); }
  if (db[kind].length === 0) { console.error('No ' + kind + ' found with specified filters'); save(); process.exit(1); }
  fs.writeFileSync(flag('output'), JSON.stringify(db[kind]));
  console.log('Successfully exported ' + db[kind].length + ' ' + kind + '.');
} else {
  const rows = JSON.parse(fs.readFileSync(flag('input'), 'utf8'));
  for (const r of rows) {
    const row = kind === 'workflows' ? { ...r, active: false, updatedAt: new Date().toISOString() } : r;
    const i = db[kind].findIndex((x) => x.id === r.id);
    if (i >= 0) db[kind][i] = row; else db[kind].push(row);
  }
  console.log('Successfully imported ' + rows.length + ' ' + kind + '.');
}
save();
`;

/** Writes the stand-in CLI into `dir` and returns its path. */
export async function fakeN8nCli(dir: string): Promise<string> {
  const bin = path.join(dir, 'n8n');
  await writeFile(bin, FAKE);
  await chmod(bin, 0o755);
  return bin;
}
