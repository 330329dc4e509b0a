import { randomBytes, randomUUID } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'kysely';
import { inject, describe, expect, it } from 'vitest';
import { encryptedFields, ownerOf } from '../../src/keys/encrypted-fields.js';
import { DIALECTS } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { buildRecord, buildTenant, type TestTenant } from '../harness/builders.js';
import { buildStaff } from '../harness/staff.js';
import { insertTestAlert, notifyTransition } from '../harness/alert-fixture.js';
import { startS3Server } from '../harness/s3-server.js';

/** Alert delivery on, so an alert leaves a webhook delivery (to a loopback port nobody answers: it stays queued). */
const ALERTING = { CONFIDE_ALERT_WEBHOOK_URL: 'http://127.0.0.1:9/hook', CONFIDE_ALERT_WEBHOOK_SECRET: 'canary-webhook-secret-0123456789abcdef' };

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

/** The files under `dir` whose raw bytes hold any of the needles (UTF-8, or UTF-16 as some engines store text). */
function filesContaining(dir: string, needles: string[]): string[] {
  return filesUnder(dir).filter((file) => {
    const bytes = readFileSync(file);
    return needles.some((needle) => bytes.includes(Buffer.from(needle, 'utf8')) || bytes.includes(Buffer.from(needle, 'utf16le')));
  });
}

async function writeCanaries(t: TestApp) {
  const canary = `CANARY-${randomBytes(8).toString('hex')}`;
  const email = `canary.${randomBytes(4).toString('hex')}@private-domain.test`;
  const organization = `Org ${canary}-name`;
  const tenant = await buildTenant(t, { email, organization });
  const record = await buildRecord(t, tenant, 'patients', { diagnosis: canary, note: `${canary} again` });
  await t.request({ method: 'PUT', url: `/v1/collections/patients/records/${record.id}`, token: tenant.token, payload: { diagnosis: `${canary}-v2` } });
  // A file attached to the record (src/files/): its key in record_files.key_enc, its bytes sealed under <data dir>/files.
  const file = await t.request({ method: 'PUT', url: `/v1/collections/patients/records/${record.id}/files/scan.txt`, token: tenant.token, payload: `file ${canary} text`, headers: { 'content-type': 'text/plain' } });
  expect(file.statusCode, file.body).toBe(201);
  await t.request({ method: 'GET', url: '/v1/collections/patients/records', token: tenant.token });
  await t.request({ method: 'GET', url: '/v1/access-log', token: tenant.token });
  // Account data that rests elsewhere: a TOTP seed, an API key name, a queued and a delivered
  // e-mail (the outbox folder), sessions' client details, security events, a pending invitation.
  const totp = (await t.request({ method: 'POST', url: '/v1/mfa/totp', token: tenant.token })).json();
  await t.request({ method: 'POST', url: '/v1/api-keys', token: tenant.token, payload: { name: `key ${canary}`, scope: 'read' } });
  await t.request({ method: 'POST', url: '/v1/invitations', token: tenant.token, payload: { email: `invitee.${canary}@private-domain.test`, role: 'member' } });
  await t.request({ method: 'POST', url: '/v1/sessions', payload: { email, password: tenant.password }, headers: { 'user-agent': `agent ${canary}` } });
  await t.request({ method: 'POST', url: '/v1/password-resets', payload: { email } });
  await t.app.services.mail.kick();
  await t.request({ method: 'POST', url: '/v1/password-resets', payload: { email } }); // stays queued
  await writeStaffCanaries(t, tenant, canary);
  // An alert about the canary and its queued webhook (the delivery test's fixture), and one the monitor
  // raises itself through the alert store (a staff member refused tenant data).
  await notifyTransition(t, await insertTestAlert(t, `account ${canary}`), 'opened');
  t.app.services.securityEvents.record({ type: 'staff.grant.refused', outcome: 'refused', tenantId: tenant.tenantId, actor: { type: 'staff', id: randomUUID() }, ip: '192.0.2.9' });
  await t.app.services.securityEvents.flush();
  expect((await t.app.monitor.runOnce()).opened).toBeGreaterThan(0);
  await t.app.services.alertNotifier.webhooks?.kick();
  await t.app.services.securityEvents.flush();
  return { canary, email, organization, tenant, totpSecret: totp.secret as string };
}

/** Staff data: accounts, sessions and TOTP seeds, and requests with a ticket, a denial reason and review notes. */
async function writeStaffCanaries(t: TestApp, tenant: TestTenant, canary: string) {
  const support = await buildStaff(t, { role: 'support', email: `support.${canary.toLowerCase()}@ops.test` });
  const [first, second] = [await buildStaff(t, { role: 'security-admin' }), await buildStaff(t, { role: 'security-admin' })];
  const ask = (token: string, payload: Record<string, unknown>) =>
    t.admin({ method: 'POST', url: '/admin/v1/access-requests', token, payload: { tenantId: tenant.tenantId, scope: 'read', durationMinutes: 30, reason: `Customer asks about ${canary} in their records`, ticket: `SUP ${canary}`, ...payload } });
  const asked = await ask(support.token, { justification: 'CUSTOMER_INITIATED_SUPPORT' });
  expect(asked.statusCode, asked.body).toBe(201);
  expect((await t.request({ method: 'POST', url: `/v1/access-requests/${asked.json().id}/deny`, token: tenant.token, payload: { reason: `Not now ${canary}` } })).statusCode).toBe(200);
  const emergency = await ask(first.token, { justification: 'INCIDENT_RESPONSE', breakGlass: true });
  expect(emergency.statusCode, emergency.body).toBe(201);
  expect((await t.admin({ method: 'POST', url: `/admin/v1/access-requests/${emergency.json().id}/approve`, token: second.token })).statusCode).toBe(200);
  const review = await t.admin({ method: 'POST', url: `/admin/v1/access-requests/${emergency.json().id}/review`, token: second.token, payload: { notes: `Reviewed ${canary}` } });
  expect(review.statusCode, review.body).toBe(200);
}

/** Every `_enc` column of the live database, as `table.column`. */
async function encryptedColumnsOf(t: TestApp): Promise<string[]> {
  const { db } = t.app.services;
  const schema = t.dialect === 'postgres' ? (await sql<{ schema: string }>`select current_schema() as schema`.execute(db)).rows[0]!.schema : undefined;
  const tables = await db.introspection.getTables();
  return tables
    .filter((table) => schema === undefined || table.schema === schema)
    .flatMap((table) => table.columns.filter((column) => column.name.endsWith('_enc')).map((column) => `${table.name}.${column.name}`))
    .sort();
}

describe.each(DIALECTS)('encryption at rest on %s', (dialect) => {
  it('lists every encrypted column of the schema in the encrypted-field registry, and nothing else', async () => {
    const t = await createTestApp(dialect);
    try {
      const registered = encryptedFields().flatMap(([, field]) => (field.kind === 'column' ? [`${field.table}.${field.column}`] : []));
      const live = await encryptedColumnsOf(t);
      expect(live.length).toBeGreaterThan(10);
      expect(registered.sort()).toEqual(live);
    } finally {
      await t.close();
    }
  });

  it('opens every stored value with the owner and location the registry gives it: no value sealed otherwise', async () => {
    const t = await createTestApp(dialect, { env: ALERTING });
    try {
      await writeCanaries(t);
      const { db, keyRing } = t.app.services;
      let mailChecked = 0;
      for (const [name, field] of encryptedFields()) {
        if (field.kind !== 'column') continue;
        const { rows } = await sql<Record<string, unknown>>`select * from ${sql.table(field.table)} where ${sql.ref(field.column)} is not null`.execute(db);
        // Queued mail leaves the queue once delivered (to the outbox files, checked below).
        if (field.table === 'mail_queue') mailChecked += rows.length;
        else expect(rows.length, `${name}: the canaries leave a value in ${field.table}.${field.column}`).toBeGreaterThan(0);
        for (const row of rows) {
          const cipher = await keyRing.cipherFor(ownerOf(field, row));
          expect(() => cipher.decrypt(String(row[field.column]), field.location(row)), name).not.toThrow();
        }
      }
      const outbox = join(t.dataDir, 'outbox');
      const [, file] = encryptedFields().find(([, field]) => field.kind === 'file')!;
      for (const name of existsSync(outbox) ? readdirSync(outbox) : []) {
        const [, id, , sealed] = readFileSync(join(outbox, name), 'utf8').trim().split('\n');
        const cipher = await keyRing.cipherFor(ownerOf(file, { id }));
        expect(cipher.decrypt(sealed!, file.location({ id }))).toContain('Subject:');
        mailChecked += 1;
      }
      expect(mailChecked).toBeGreaterThan(1);
    } finally {
      await t.close();
    }
  });

  it('leaves no customer value, e-mail address or organisation name in any file under the data directory', async () => {
    const t = await createTestApp(dialect, { env: ALERTING });
    try {
      const { canary, email, totpSecret } = await writeCanaries(t);
      const needles = [canary, email, email.split('@')[0]!, 'private-domain.test', totpSecret];
      if (dialect === 'sqlite') expect(readdirSync(join(t.dataDir, 'outbox')).length).toBeGreaterThan(0);

      // A positive control: the scan finds a canary that is stored in clear.
      const control = join(t.dataDir, 'control.txt');
      writeFileSync(control, `x${canary}x`);
      expect(filesContaining(t.dataDir, needles)).toEqual([control]);
      unlinkSync(control);

      const files = filesUnder(t.dataDir);
      if (dialect === 'sqlite') {
        expect(files.some((f) => f.endsWith('confide.db'))).toBe(true);
        expect(files.some((f) => f.endsWith('confide.db-wal'))).toBe(true);
      }
      expect(filesContaining(t.dataDir, needles)).toEqual([]);

      // And after a clean shutdown has checkpointed the WAL into the main file.
      await t.app.close();
      expect(filesContaining(t.dataDir, needles)).toEqual([]);
    } finally {
      await t.close().catch(() => undefined);
    }
  });

  it('with the S3 blob store, leaves no customer value in the S3 server’s storage either, nor in the data directory', async () => {
    const s3 = await startS3Server();
    const t = await createTestApp(dialect, { env: { ...ALERTING, ...s3.env, CONFIDE_BLOB_STORE: `s3://${s3.bucket}/confide` } });
    try {
      const { canary, email, totpSecret } = await writeCanaries(t);
      const needles = [canary, email, email.split('@')[0]!, 'private-domain.test', totpSecret];
      // The file's blob went to the bucket, not the data directory: the scan reads where it is.
      expect(filesUnder(s3.directory).filter((file) => file.includes('/confide/files/') && file.endsWith('._S3rver_object')).length).toBe(1);
      expect(existsSync(join(t.dataDir, 'files'))).toBe(false);
      const control = join(s3.directory, 'control.txt');
      writeFileSync(control, `x${canary}x`);
      expect(filesContaining(s3.directory, needles)).toEqual([control]);
      unlinkSync(control);
      expect(filesContaining(s3.directory, needles)).toEqual([]);
      expect(filesContaining(t.dataDir, needles)).toEqual([]);
    } finally {
      await t.close().catch(() => undefined);
      await s3.close();
    }
  });

  if (dialect === 'sqlite') {
    it('keeps the database file itself encrypted: no SQLite header, no schema text', async () => {
      const t = await createTestApp(dialect);
      try {
        await writeCanaries(t);
        await t.app.close();
        const bytes = readFileSync(join(t.dataDir, 'confide.db'));
        expect(bytes.subarray(0, 16).toString('latin1')).not.toBe('SQLite format 3\u0000');
        expect(bytes.includes(Buffer.from('CREATE TABLE'))).toBe(false);
        expect(bytes.includes(Buffer.from('access_log'))).toBe(false);
      } finally {
        await t.close().catch(() => undefined);
      }
    });
  }

  if (dialect === 'postgres') {
    it('leaves no customer value or e-mail address in a pg_dump of the database', async () => {
      const t = await createTestApp(dialect);
      try {
        const { canary, email, totpSecret } = await writeCanaries(t);
        const schema = new URL(t.env.CONFIDE_DATABASE_URL!).searchParams.get('options')!.split('=').pop()!;
        const binDir = inject('postgresBinDir');
        const pgDump = binDir ? join(binDir, 'pg_dump') : 'pg_dump';
        const dump = spawnSync(pgDump, ['--schema', schema, '--data-only', '--dbname', inject('postgresUrl')!], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
        expect(dump.status, dump.stderr).toBe(0);
        expect(dump.stdout).toContain('c1.A256GCM.'); // the dump does hold the (encrypted) rows
        expect(dump.stdout).not.toContain(canary);
        expect(dump.stdout).not.toContain(email);
        expect(dump.stdout).not.toContain(email.split('@')[0]!);
        expect(dump.stdout).not.toContain(totpSecret);
      } finally {
        await t.close();
      }
    });
  }
});
