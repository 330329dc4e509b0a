import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import { restoreBackup } from '../../src/backup/backup-restore.js';
import type { BackupManifest } from '../../src/backup/backup-manifest.js';
import { inMemoryMasterKey } from '../../src/keys/master-key.js';
import { FolderObjectStore } from '../../src/storage/folder-object-store.js';
import { DIALECTS } from '../harness/dialects.js';
import { buildRecord, buildTenant } from '../harness/builders.js';
import { backupPlaces } from '../harness/backup-places.js';

const { roots, place, start } = backupPlaces();

async function restore(env: Record<string, string>, id: string): Promise<void> {
  const config = loadConfig(env, '/');
  const masterKey = inMemoryMasterKey('env', Buffer.from(env.CONFIDE_MASTER_KEY!, 'base64'), 'master key');
  const restored = await restoreBackup({ config, masterKey, store: new FolderObjectStore(config.backup.target!), now: () => new Date() }, id);
  await restored.database.close();
}

/**
 * The tables whose content a start does not touch: their checksums must survive each hop exactly.
 * Not record_files: a restore puts each blob into the blob store under a new name (storage_id); the
 * file itself is compared by downloading it.
 */
const STABLE = ['tenants', 'users', 'memberships', 'collections', 'records', 'access_log', 'access_log_heads', 'key_ring', 'signing_keys', 'access_log_checkpoints'];
const checksums = (manifest: BackupManifest) => manifest.tables.filter((t) => STABLE.includes(t.table)).map((t) => [t.table, t.rows, t.sha256]);

describe.runIf(DIALECTS.includes('sqlite') && DIALECTS.includes('postgres'))('SQLite → PostgreSQL → SQLite through archives', () => {
  it('keeps every record, file and checksum equal', { timeout: 240_000 }, async () => {
    const target = mkdtempSync(join(tmpdir(), 'confide-target-'));
    roots.push(target);
    const masterKey = randomBytes(32).toString('base64');
    const sqlite = await start('sqlite', await place('sqlite', target, masterKey));
    const tenant = await buildTenant(sqlite);
    const records = [];
    for (let i = 0; i < 30; i += 1) records.push(await buildRecord(sqlite, tenant, 'patients', { note: `n${i}`, n: i, blob: randomBytes(64).toString('base64') }));
    const pdf = randomBytes(150_000);
    const url = `/v1/collections/patients/records/${records[0]!.id}/files/a.pdf`;
    expect((await sqlite.request({ method: 'PUT', url, token: tenant.token, payload: pdf, headers: { 'content-type': 'application/pdf' } })).statusCode).toBe(201);
    const first = await sqlite.app.services.backups!.create({ actor: 'host:test' });

    const pgEnv = await place('postgres', target, masterKey);
    await restore(pgEnv, first.id);
    const postgres = await start('postgres', pgEnv);
    const second = await postgres.app.services.backups!.create({ actor: 'host:test' });
    expect(second.manifest.source.dialect).toBe('postgres');
    expect(checksums(second.manifest)).toEqual(checksums(first.manifest));

    const backEnv = await place('sqlite', target, masterKey);
    await restore(backEnv, second.id);
    const back = await start('sqlite', backEnv);
    const third = await back.app.services.backups!.create({ actor: 'host:test' });
    expect(checksums(third.manifest)).toEqual(checksums(first.manifest));
    for (const record of records) {
      const read = await back.request({ method: 'GET', url: `/v1/collections/patients/records/${record.id}`, token: tenant.token });
      expect(read.statusCode, read.body).toBe(200);
      expect(read.json().data).toEqual(record.data);
    }
    const original = await sqlite.request({ method: 'GET', url: `/v1/collections/patients/records/${records[5]!.id}`, token: tenant.token });
    const copied = await back.request({ method: 'GET', url: `/v1/collections/patients/records/${records[5]!.id}`, token: tenant.token });
    expect(copied.json().data).toEqual(original.json().data);
    const download = await back.request({ method: 'GET', url, token: tenant.token });
    expect(download.rawPayload.equals(pdf)).toBe(true);
  });
});
