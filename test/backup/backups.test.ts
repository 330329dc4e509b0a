import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import { restoreBackup } from '../../src/backup/backup-restore.js';
import { verifyAccessLog } from '../../src/audit/verify-access-log.js';
import { checkSentinel } from '../../src/backup/backup-sentinel.js';
import { inMemoryMasterKey } from '../../src/keys/master-key.js';
import { FolderObjectStore } from '../../src/storage/folder-object-store.js';
import { archiveName } from '../../src/backup/backup-manifest.js';
import { DIALECTS, type TestDialect } from '../harness/dialects.js';
import { type TestApp } from '../harness/test-app.js';
import { buildRecord, buildTenant, signIn, type TestTenant } from '../harness/builders.js';
import { backupPlaces } from '../harness/backup-places.js';

const { apps, roots, place, start } = backupPlaces();

const fileUrl = (recordId: string) => `/v1/collections/patients/records/${recordId}/files/scan.pdf`;
const read = (t: TestApp, tenant: TestTenant, id: string) => t.request({ method: 'GET', url: `/v1/collections/patients/records/${id}`, token: tenant.token });

/** Restores the newest backup at `target` into `env`'s place, as `confide backup restore --latest` does. */
async function restoreInto(dialect: TestDialect, env: Record<string, string>, id: string, options: { force?: boolean; masterKey?: string } = {}) {
  const config = loadConfig(env, '/');
  const masterKey = inMemoryMasterKey('env', Buffer.from(options.masterKey ?? env.CONFIDE_MASTER_KEY!, 'base64'), 'master key from CONFIDE_MASTER_KEY');
  const restored = await restoreBackup({ config, masterKey, store: new FolderObjectStore(config.backup.target!), now: () => new Date() }, id, options);
  await restored.database.close();
  void dialect;
  return restored;
}

describe.each(DIALECTS)('backups on %s', (dialect) => {
  it('backs up, verifies, and restores into a fresh place that serves: records and files equal, the deleted tenant shredded, the log and sentinel intact', { timeout: 180_000 }, async () => {
    const target = mkdtempSync(join(tmpdir(), 'confide-target-'));
    roots.push(target);
    const masterKey = randomBytes(32).toString('base64');
    const source = await start(dialect, await place(dialect, target, masterKey));
    const canary = `canary-${randomBytes(12).toString('hex')}`;
    const kept = await buildTenant(source);
    const gone = await buildTenant(source);
    const keptRecord = await buildRecord(source, kept, 'patients', { note: 'bravo' });
    const goneRecord = await buildRecord(source, gone, 'patients', { note: canary });
    const pdf = Buffer.concat([Buffer.from('%PDF-'), randomBytes(300_000)]);
    const upload = await source.request({ method: 'PUT', url: fileUrl(keptRecord.id), token: kept.token, payload: pdf, headers: { 'content-type': 'application/pdf' } });
    expect(upload.statusCode, upload.body).toBe(201);

    const backups = source.app.services.backups!;
    const { id, manifest } = await backups.create({ actor: 'host:test' });
    expect(manifest).toMatchObject({ id, tenants: 2, files: { count: 1 }, missingBlobs: [], source: { dialect } });
    const verified = await backups.verify(id, { actor: 'host:test' });
    expect(verified.problems).toEqual([]);
    expect(verified.checks.map((c) => c.name)).toEqual(['archive', 'tables', 'manifest', 'integrity_check', 'access_logs', 'sentinel', 'files']);
    expect((await backups.list()).map((b) => [b.id, b.tenants, Boolean(b.verified)])).toEqual([[id, 2, true]]);
    expect(existsSync(join(target, 'tenant-keys', gone.tenantId))).toBe(true);
    // Nothing readable of the customer's data rests at the target.
    for (const name of readdirSync(join(target, 'backups'))) expect(readFileSync(join(target, 'backups', name)).includes(Buffer.from(canary))).toBe(false);

    // The tenant goes after the backup: its key object at the target goes with it.
    const owner = await signIn(source, gone.email, gone.password);
    expect((await source.request({ method: 'DELETE', url: '/v1/tenant', token: owner.token, payload: { confirm: gone.tenantId } })).statusCode).toBe(204);
    expect(existsSync(join(target, 'tenant-keys', gone.tenantId))).toBe(false);
    expect(existsSync(join(target, 'tenant-keys', `${gone.tenantId}.deleted`))).toBe(true);

    const fresh = await place(dialect, target, masterKey);
    const restored = await restoreInto(dialect, fresh, id);
    expect(restored.tenants).toEqual({ restored: 1, deleted: [gone.tenantId] });
    const copy = await start(dialect, fresh);
    const keptRead = await read(copy, kept, keptRecord.id);
    expect(keptRead.statusCode, keptRead.body).toBe(200);
    expect(keptRead.json().data).toEqual({ note: 'bravo' });
    const download = await copy.request({ method: 'GET', url: fileUrl(keptRecord.id), token: kept.token });
    expect(download.statusCode).toBe(200);
    expect(download.rawPayload.equals(pdf)).toBe(true);
    // Removed as the deletion removed it: its sessions and accounts are gone, its key shredded.
    const refused = await read(copy, gone, goneRecord.id);
    expect(refused.statusCode, refused.body).toBe(401);
    const { services } = copy.app;
    await expect(services.keyRing.cipherFor(gone.tenantId)).rejects.toMatchObject({ code: 'TENANT_DELETED' });
    expect(await services.db.selectFrom('tenants').select('id').where('id', '=', gone.tenantId).execute()).toEqual([]);
    const report = await verifyAccessLog(services.db, kept.tenantId, await services.keyRing.cipherFor(kept.tenantId), { checkpoint: await services.checkpoints.latest(kept.tenantId), publicKeys: await services.signingKeys.authenticPublicKeys() });
    expect(report.ok, JSON.stringify(report.problems)).toBe(true);
    expect(await checkSentinel(services.db, services.keyRing.systemCipher(), id, manifest.sentinel.sha256)).toBeNull();
    const restoredRoot = join(fresh.CONFIDE_DATA_DIR, '..');
    for (const file of filesUnder(restoredRoot)) expect(readFileSync(file).includes(Buffer.from(canary)), file).toBe(false);
  });

  it('refuses a non-empty target without --force, empties it with --force; a wrong master key is a clear error and leaves the target empty', { timeout: 120_000 }, async () => {
    const target = mkdtempSync(join(tmpdir(), 'confide-target-'));
    roots.push(target);
    const masterKey = randomBytes(32).toString('base64');
    const source = await start(dialect, await place(dialect, target, masterKey));
    const tenant = await buildTenant(source);
    await buildRecord(source, tenant);
    const { id } = await source.app.services.backups!.create({ actor: 'host:test' });

    const busy = await place(dialect, target, masterKey);
    const other = await start(dialect, busy);
    await buildTenant(other);
    await other.close();
    apps.splice(apps.indexOf(other), 1);
    await expect(restoreInto(dialect, busy, id)).rejects.toThrow(/^the restore target is not empty \(table system_meta, .*pass --force to empty it first$/);
    const forced = await restoreInto(dialect, busy, id, { force: true });
    expect(forced.tenants.restored).toBe(1);

    const empty = await place(dialect, target, masterKey);
    await expect(restoreInto(dialect, empty, id, { masterKey: randomBytes(32).toString('base64') })).rejects.toThrow(new RegExp(`^backup ${id} was made under master key [0-9a-f]{16}; the configured master key from CONFIDE_MASTER_KEY is`));
    const again = await restoreInto(dialect, empty, id); // the refused restore left nothing behind
    expect(again.tenants.restored).toBe(1);
  });

  it('fails verification of a damaged archive with a clear message, and a restore of it leaves the target empty', { timeout: 120_000 }, async () => {
    const target = mkdtempSync(join(tmpdir(), 'confide-target-'));
    roots.push(target);
    const masterKey = randomBytes(32).toString('base64');
    const source = await start(dialect, await place(dialect, target, masterKey));
    const tenant = await buildTenant(source);
    for (let i = 0; i < 40; i += 1) await buildRecord(source, tenant, 'patients', { note: randomBytes(2000).toString('hex') });
    // A file after the dump: the damage below (near the end) is found after the database was loaded, so only the clean-up empties it.
    const record = await buildRecord(source, tenant);
    expect((await source.request({ method: 'PUT', url: fileUrl(record.id), token: tenant.token, payload: randomBytes(400_000), headers: { 'content-type': 'application/pdf' } })).statusCode).toBe(201);
    const backups = source.app.services.backups!;
    const { id } = await backups.create({ actor: 'host:test' });
    const file = join(target, archiveName(id));
    const bytes = readFileSync(file);
    bytes[bytes.length - 100]! ^= 0x01;
    writeFileSync(file, bytes);
    const result = await backups.verify(id, { actor: 'host:test' });
    expect(result.ok).toBe(false);
    expect(result.problems[0]).toMatch(new RegExp(`^archive: backup ${id} is damaged: chunk \\d+ of the archive does not authenticate`));
    expect(existsSync(join(target, 'backups', `${id}.verified`))).toBe(false);
    const fresh = await place(dialect, target, masterKey);
    await expect(restoreInto(dialect, fresh, id)).rejects.toThrow(`backup ${id} is damaged`);
    // No partial restore: the same place takes a good backup afterwards without --force.
    writeFileSync(file, (bytes[bytes.length - 100]! ^= 0x01, bytes));
    expect((await restoreInto(dialect, fresh, id)).tenants.restored).toBe(1);
  });

  it('prunes backups past the retention but keeps the newest verified one', { timeout: 120_000 }, async () => {
    const target = mkdtempSync(join(tmpdir(), 'confide-target-'));
    roots.push(target);
    const source = await start(dialect, await place(dialect, target, randomBytes(32).toString('base64')));
    await buildTenant(source);
    const backups = source.app.services.backups!;
    const oldest = (await backups.create({ actor: 'system' })).id;
    source.clock.advance(3600);
    const verified = (await backups.create({ actor: 'system' })).id;
    expect((await backups.verify(verified, { actor: 'system' })).ok).toBe(true);
    source.clock.advance(3600);
    const newest = (await backups.create({ actor: 'system' })).id;
    source.clock.advance(1800);
    // Retention 1 h: the oldest and the verified one are past it, but the verified one is the newest verified.
    expect(await backups.prune(3600, source.clock.now())).toEqual([oldest]);
    expect((await backups.list()).map((b) => b.id)).toEqual([verified, newest]);
    expect(readdirSync(join(target, 'backups')).filter((n) => n.startsWith(oldest))).toEqual([]);
  });
});

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => (statSync(join(dir, name)).isDirectory() ? filesUnder(join(dir, name)) : [join(dir, name)]));
}
