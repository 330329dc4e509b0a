import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { inject, describe, expect, it } from 'vitest';
import { DIALECTS } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { buildRecord, buildTenant } from '../harness/builders.js';

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
  await t.request({ method: 'GET', url: '/v1/collections/patients/records', token: tenant.token });
  await t.request({ method: 'GET', url: '/v1/access-log', token: tenant.token });
  // Account data that rests elsewhere: a TOTP seed, an API key name, a queued and a delivered
  // e-mail (the outbox folder), sessions' client details, security events.
  const totp = (await t.request({ method: 'POST', url: '/v1/mfa/totp', token: tenant.token })).json();
  await t.request({ method: 'POST', url: '/v1/api-keys', token: tenant.token, payload: { name: `key ${canary}`, scope: 'read' } });
  await t.request({ method: 'POST', url: '/v1/sessions', payload: { email, password: tenant.password }, headers: { 'user-agent': `agent ${canary}` } });
  await t.request({ method: 'POST', url: '/v1/password-resets', payload: { email } });
  await t.app.services.mail.kick();
  await t.request({ method: 'POST', url: '/v1/password-resets', payload: { email } }); // stays queued
  await t.app.services.securityEvents.flush();
  return { canary, email, organization, tenant, totpSecret: totp.secret as string };
}

describe.each(DIALECTS)('encryption at rest on %s', (dialect) => {
  it('leaves no customer value, e-mail address or organisation name in any file under the data directory', async () => {
    const t = await createTestApp(dialect);
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
