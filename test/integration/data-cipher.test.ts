import { dirname } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../src/app/create-app.js';
import { loadConfig } from '../../src/config/load-config.js';
import { parseEnvelope } from '../../src/keys/envelope-format.js';
import { DIALECTS } from '../harness/dialects.js';
import { buildRecord, buildTenant, type TestTenant } from '../harness/builders.js';
import { runCli } from '../harness/run-cli.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';

const CHACHA = { CONFIDE_DATA_CIPHER: 'chacha20-poly1305' };

/** The algorithm a record's stored value names, read from its row, as the database holds it. */
async function storedAlgorithm(app: App, tenant: TestTenant, id: string): Promise<string> {
  const row = await app.services.db.selectFrom('records').select('data_enc').where('tenant_id', '=', tenant.tenantId).where('id', '=', id).executeTakeFirstOrThrow();
  return parseEnvelope(row.data_enc).algorithm;
}

async function storedEmailAlgorithm(app: App, tenant: TestTenant): Promise<string> {
  const row = await app.services.db.selectFrom('users').select('email_enc').where('id', '=', tenant.userId).executeTakeFirstOrThrow();
  return parseEnvelope(row.email_enc).algorithm;
}

async function readRecord(app: App, tenant: TestTenant, id: string): Promise<Record<string, unknown>> {
  const response = await app.publicServer.inject({ method: 'GET', url: `/v1/collections/patients/records/${id}`, headers: { authorization: `Bearer ${tenant.token}` } });
  expect(response.statusCode, response.body).toBe(200);
  return response.json<{ data: Record<string, unknown> }>().data;
}

describe.each(DIALECTS)('the data cipher, CONFIDE_DATA_CIPHER (%s)', (dialect) => {
  let t: TestApp | undefined;
  /** The app restarted on t's data, when a test restarts it; closed before t (whose own app is closed already). */
  let restarted: App | undefined;
  afterEach(async () => {
    await restarted?.close();
    restarted = undefined;
    await t?.close();
    t = undefined;
  });

  /** Stops the running app and starts Confide again on the same data, database and master key, with `env` changed. */
  async function restart(running: App, env: Record<string, string>): Promise<App> {
    await running.close();
    const next = await createApp(loadConfig({ ...t!.env, CONFIDE_LOG_LEVEL: 'silent', ...env }, dirname(t!.dataDir)), { clock: t!.clock, startWorkers: false });
    restarted = next;
    return next;
  }

  it('started with chacha20-poly1305, seals new records and account data with C20P1305 and reads them back through the API', async () => {
    t = await createTestApp(dialect, { env: CHACHA });
    const tenant = await buildTenant(t);
    const record = await buildRecord(t, tenant, 'patients', { diagnosis: 'chacha' });
    expect(await storedAlgorithm(t.app, tenant, record.id)).toBe('C20P1305');
    expect(await storedEmailAlgorithm(t.app, tenant)).toBe('C20P1305'); // the system key's values too
    expect(await readRecord(t.app, tenant, record.id)).toEqual({ diagnosis: 'chacha' });
  });

  it('started with the default, seals with A256GCM', async () => {
    t = await createTestApp(dialect);
    const tenant = await buildTenant(t);
    const record = await buildRecord(t, tenant, 'patients', { diagnosis: 'aes' });
    expect(await storedAlgorithm(t.app, tenant, record.id)).toBe('A256GCM');
    expect(await storedEmailAlgorithm(t.app, tenant)).toBe('A256GCM');
  });

  it('switched from aes-256-gcm to chacha20-poly1305 and back, reads every value under the algorithm it was sealed with', async () => {
    t = await createTestApp(dialect, { env: { CONFIDE_DATA_CIPHER: 'aes-256-gcm' } });
    const tenant = await buildTenant(t);
    const [kept, updated] = [await buildRecord(t, tenant, 'patients', { diagnosis: 'kept' }), await buildRecord(t, tenant, 'patients', { diagnosis: 'before' })];

    const chacha = await restart(t.app, CHACHA);
    expect(await readRecord(chacha, tenant, kept.id)).toEqual({ diagnosis: 'kept' });
    const created = await chacha.publicServer.inject({ method: 'POST', url: '/v1/collections/patients/records', headers: { authorization: `Bearer ${tenant.token}` }, payload: { diagnosis: 'new' } });
    expect(created.statusCode, created.body).toBe(201);
    const put = await chacha.publicServer.inject({ method: 'PUT', url: `/v1/collections/patients/records/${updated.id}`, headers: { authorization: `Bearer ${tenant.token}` }, payload: { diagnosis: 'after' } });
    expect(put.statusCode, put.body).toBe(200);
    // Switching alone re-seals nothing: what was not written since keeps its algorithm until a rotation re-encrypts it.
    expect(await storedAlgorithm(chacha, tenant, kept.id)).toBe('A256GCM');
    expect(await storedAlgorithm(chacha, tenant, updated.id)).toBe('C20P1305');
    expect(await storedAlgorithm(chacha, tenant, created.json().id)).toBe('C20P1305');

    const aes = await restart(chacha, { CONFIDE_DATA_CIPHER: 'aes-256-gcm' });
    expect(await readRecord(aes, tenant, kept.id)).toEqual({ diagnosis: 'kept' });
    expect(await readRecord(aes, tenant, updated.id)).toEqual({ diagnosis: 'after' });
    expect(await readRecord(aes, tenant, created.json().id)).toEqual({ diagnosis: 'new' });
  });
});

describe('CONFIDE_DATA_CIPHER at configuration load', () => {
  it('stops `confide serve` on any other cipher with exit 78 and one line naming the variable and the allowed values', () => {
    // One process is enough here: src/config/load-config.test.ts refuses des, a typo and the rest in-process.
    const result = runCli(['serve'], { CONFIDE_DATA_CIPHER: 'aes-128-gcm' });
    expect(result.status, result.stderr).toBe(78);
    expect(result.stderr).toBe('confide: CONFIDE_DATA_CIPHER must be one of aes-256-gcm, chacha20-poly1305\n');
  });
});
