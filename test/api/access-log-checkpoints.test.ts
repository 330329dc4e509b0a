import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from '../harness/dialects.js';
import { createTestApp, type TestApp } from '../harness/test-app.js';
import { buildRecord, buildTenant, errorCode, signIn, type TestTenant } from '../harness/builders.js';
import { runCli } from '../harness/run-cli.js';
import { signCheckpoint } from '../../src/audit/checkpoint-signature.js';
import { inMemoryMasterKey } from '../../src/keys/master-key.js';
import { SigningKeys } from '../../src/keys/signing-keys.js';
import { ed25519KeyId, generateEd25519, privateKeyFromSeed } from '../../src/lib/ed25519.js';

interface PublicKey {
  keyId: string;
  version: number;
  publicKeyPem: string;
  publicKey: string;
  retiredAt: string | null;
}

const ENTRIES = 5;
const SECONDS = 600;

describe.each(DIALECTS)('signed access-log checkpoints on %s', (dialect) => {
  let t: TestApp;
  let files: string;
  beforeAll(async () => {
    t = await createTestApp(dialect, { env: { CONFIDE_CHECKPOINT_ENTRIES: String(ENTRIES), CONFIDE_CHECKPOINT_SECONDS: String(SECONDS) } });
    files = mkdtempSync(join(tmpdir(), 'confide-export-'));
  });
  afterAll(async () => {
    rmSync(files, { recursive: true, force: true });
    await t.close();
  });

  const checkpointSeqs = async (tenant: TestTenant) =>
    (await t.app.services.db.selectFrom('access_log_checkpoints').select('seq').where('tenant_id', '=', tenant.tenantId).orderBy('seq').execute()).map((row) => Number(row.seq));
  const records = async (tenant: TestTenant, count: number) => {
    for (let i = 0; i < count; i += 1) await buildRecord(t, tenant);
  };
  const publicKeys = async (tenant: TestTenant): Promise<PublicKey[]> => {
    const response = await t.request({ method: 'GET', url: '/v1/access-log/public-keys', token: tenant.token });
    expect(response.statusCode, response.body).toBe(200);
    return response.json().keys;
  };
  const exportTo = async (tenant: TestTenant, name: string): Promise<string[]> => {
    const response = await t.request({ method: 'GET', url: '/v1/access-log/export', token: tenant.token });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.headers['content-type']).toBe('application/x-ndjson; charset=utf-8');
    writeFileSync(join(files, name), response.body);
    return response.body.trimEnd().split('\n');
  };
  const verifyExport = (name: string, ...keys: string[]) =>
    runCli(['audit', 'verify-export', join(files, name), ...keys.flatMap((key) => ['--public-key', key])], {});

  it(`signs a tenant's head once ${ENTRIES} entries wait unsigned, and not before`, async () => {
    const tenant = await buildTenant(t);
    await records(tenant, ENTRIES - 1);
    await t.app.services.checkpoints.runOnce();
    expect(await checkpointSeqs(tenant)).toEqual([]);
    await records(tenant, 1);
    await t.app.services.checkpoints.runOnce();
    expect(await checkpointSeqs(tenant)).toEqual([ENTRIES]);
    // Nothing new: the next pass signs nothing more for it.
    await t.app.services.checkpoints.runOnce();
    expect(await checkpointSeqs(tenant)).toEqual([ENTRIES]);
  });

  it(`signs a tenant's head once its oldest unsigned entry is ${SECONDS} s old, and not before`, async () => {
    const tenant = await buildTenant(t);
    await records(tenant, 1);
    t.clock.advance(SECONDS - 2);
    await t.app.services.checkpoints.runOnce();
    expect(await checkpointSeqs(tenant)).toEqual([]);
    t.clock.advance(2);
    await t.app.services.checkpoints.runOnce();
    expect(await checkpointSeqs(tenant)).toEqual([1]);
  });

  it('lists checkpoints a page at a time, each verifying under a listed public key; reading them is logged', async () => {
    const tenant = await buildTenant(t);
    for (let i = 0; i < 3; i += 1) {
      await records(tenant, ENTRIES);
      await t.app.services.checkpoints.runOnce();
    }
    const first = await t.request({ method: 'GET', url: '/v1/access-log/checkpoints?limit=2', token: tenant.token });
    expect(first.statusCode, first.body).toBe(200);
    expect(first.json().items.map((c: { seq: number }) => c.seq)).toEqual([5, 10]);
    const rest = await t.request({ method: 'GET', url: `/v1/access-log/checkpoints?limit=2&cursor=${first.json().nextCursor}`, token: tenant.token });
    expect(rest.json()).toMatchObject({ items: [{ seq: 15, tenantId: tenant.tenantId }], nextCursor: null });
    const [key] = await publicKeys(tenant);
    expect(rest.json().items[0].keyId).toBe(key!.keyId);
    expect(key!.keyId).toBe(ed25519KeyId(Buffer.from(key!.publicKey, 'base64')));
    const log = await t.request({ method: 'GET', url: '/v1/access-log?limit=500', token: tenant.token });
    expect(log.json().items.filter((e: { resource: { type: string } }) => e.resource.type === 'accessLogCheckpoints')).toHaveLength(2);
  });

  it('catches a cut tail with the head rewritten to match: the CLI names it against the latest checkpoint', async () => {
    const tenant = await buildTenant(t);
    await records(tenant, 6);
    const checkpoint = (await t.app.services.checkpoints.checkpointNow(tenant.tenantId))!;
    expect(checkpoint.seq).toBe(6);
    const { db } = t.app.services;
    const third = await db.selectFrom('access_log').select('hash').where('tenant_id', '=', tenant.tenantId).where('seq', '=', 3).executeTakeFirstOrThrow();
    await db.deleteFrom('access_log').where('tenant_id', '=', tenant.tenantId).where('seq', '>', 3).execute();
    await db.updateTable('access_log_heads').set({ seq: 3, hash: third.hash }).where('tenant_id', '=', tenant.tenantId).execute();

    const cut = runCli(['audit', 'verify', '--tenant', tenant.tenantId], t.env);
    expect(cut.stderr).toBe('');
    expect(cut.status).toBe(1);
    expect(cut.stdout).toContain(`truncated after seq 3; checkpoint at seq 6 signed ${checkpoint.at}`);

    // The intruder appends again until the chain is past the checkpoint: entry 6 is not the one signed.
    await records(tenant, 3);
    const report = (await t.request({ method: 'GET', url: '/v1/access-log/verify', token: tenant.token })).json();
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([{ seq: 6, kind: 'rewritten', message: `entry 6 is not the one signed (the log was rewritten up to it); checkpoint at seq 6 signed ${checkpoint.at}` }]);
    expect(report.checkpoint).toEqual({ seq: 6, at: checkpoint.at, keyId: checkpoint.keyId });
  });

  it('refuses a checkpoint re-signed with a key pair an intruder inserted', async () => {
    const tenant = await buildTenant(t);
    await records(tenant, 4);
    await t.app.services.checkpoints.checkpointNow(tenant.tenantId);
    const { db } = t.app.services;
    const head = await db.selectFrom('access_log').select('hash').where('tenant_id', '=', tenant.tenantId).where('seq', '=', 2).executeTakeFirstOrThrow();
    await db.deleteFrom('access_log').where('tenant_id', '=', tenant.tenantId).where('seq', '>', 2).execute();
    await db.updateTable('access_log_heads').set({ seq: 2, hash: head.hash }).where('tenant_id', '=', tenant.tenantId).execute();
    await db.deleteFrom('access_log_checkpoints').where('tenant_id', '=', tenant.tenantId).execute();
    // A key pair of their own, listed as the next version (its "wrapped" private key is not wrapped by the master key).
    const forged = generateEd25519();
    const keyId = ed25519KeyId(forged.publicKey);
    const version = (await db.selectFrom('signing_keys').select('version').orderBy('version', 'desc').executeTakeFirstOrThrow()).version + 1;
    await db
      .insertInto('signing_keys')
      .values({ id: `forged-${keyId}`, version, key_id: keyId, public_key: forged.publicKey.toString('base64url'), wrapped_private_key: 'w1.A256GCM.AAAA', master_key_id: 'x', created_at: new Date().toISOString(), retired_at: null })
      .execute();
    const resigned = signCheckpoint(privateKeyFromSeed(forged.seed), { tenantId: tenant.tenantId, seq: 2, hash: head.hash, at: new Date().toISOString(), keyId });
    await db.insertInto('access_log_checkpoints').values({ tenant_id: tenant.tenantId, seq: 2, hash: head.hash, at: resigned.at, key_id: keyId, signature: resigned.signature }).execute();

    // The database lists the key, as the genuine ones; only the master key tells it apart.
    expect((await publicKeys(tenant)).map((key) => key.keyId)).toContain(keyId);
    const result = runCli(['audit', 'verify', '--tenant', tenant.tenantId, '--json'], t.env);
    expect(result.status).toBe(1);
    const [report] = JSON.parse(result.stdout).tenants;
    expect(report.problems).toEqual([expect.objectContaining({ kind: 'checkpoint_invalid', message: expect.stringContaining(`names signing key ${keyId}, which is not a known key`) })]);
    await db.deleteFrom('signing_keys').where('key_id', '=', keyId).execute(); // later tests sign with the genuine key again
  });

  it('exports the log with its checkpoints, ending signed; it verifies offline with only the public key, as PEM, raw base64 or a file', async () => {
    const tenant = await buildTenant(t);
    await records(tenant, ENTRIES + 2);
    await t.app.services.checkpoints.runOnce();
    const lines = await exportTo(tenant, 'genuine.ndjson');
    const types = lines.map((line) => JSON.parse(line).type);
    expect(types[0]).toBe('header');
    expect(types.at(-1)).toBe('trailer');
    const entries = lines.map((line) => JSON.parse(line)).filter((line) => line.type === 'entry');
    expect(entries.map((entry) => entry.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(entries.at(-1)).toMatchObject({ action: 'export', resource: { type: 'accessLog' } }); // the export itself, logged first
    expect(lines.map((line) => JSON.parse(line)).filter((line) => line.type === 'checkpoint').map((c) => c.seq)).toEqual([7, 8]); // the pass signed the head at 7; the export signs its own entry

    const [key] = await publicKeys(tenant);
    writeFileSync(join(files, 'key.pem'), key!.publicKeyPem);
    for (const given of [key!.publicKeyPem, key!.publicKey, join(files, 'key.pem')]) {
      const ok = verifyExport('genuine.ndjson', given);
      expect(ok.stderr).toBe('');
      expect(ok.status).toBe(0);
      expect(ok.stdout).toContain(`verifies: tenant ${tenant.tenantId}, 8 entries, 2 checkpoints; signed up to entry 8`);
    }
  });

  it('an edited export fails offline: one byte of an entry, a removed line, a changed signature', async () => {
    const tenant = await buildTenant(t);
    await records(tenant, ENTRIES);
    await t.app.services.checkpoints.runOnce();
    const lines = await exportTo(tenant, 'original.ndjson');
    const [key] = await publicKeys(tenant);
    const write = (name: string, edited: string[]) => writeFileSync(join(files, name), `${edited.join('\n')}\n`);

    const byte = [...lines];
    byte[3] = byte[3]!.replace(/"ip":"([^"]*)"/, (_m, ip: string) => `"ip":"${ip.slice(0, -1)}${ip.endsWith('1') ? '2' : '1'}"`); // entry 3's client IP
    expect(byte[3]).not.toBe(lines[3]);
    write('byte.ndjson', byte);
    write('removed.ndjson', lines.filter((_, i) => i !== 2));
    const checkpointLine = lines.findIndex((line) => JSON.parse(line).type === 'checkpoint');
    const signature = { ...JSON.parse(lines[checkpointLine]!) };
    signature.signature = `${signature.signature[0] === 'A' ? 'B' : 'A'}${signature.signature.slice(1)}`;
    write('signature.ndjson', lines.map((line, i) => (i === checkpointLine ? JSON.stringify(signature) : line)));

    for (const [name, line, message] of [
      ['byte.ndjson', 4, 'entry 3 does not match its hash (it was changed)'],
      ['removed.ndjson', 3, 'entry 2 is missing'],
      ['signature.ndjson', checkpointLine + 1, 'has a signature that does not verify'],
    ] as const) {
      const failed = verifyExport(name, key!.publicKeyPem);
      expect(failed.status, name).toBe(1);
      expect(failed.stdout, name).toContain(`does NOT verify: line ${line}: `);
      expect(failed.stdout, name).toContain(message);
    }
    expect(verifyExport('missing.ndjson', key!.publicKeyPem).status).toBe(2);
    expect(verifyExport('original.ndjson', 'not-a-key').status).toBe(2);
  });

  it('after a rotation, new checkpoints use the new key and old ones still verify with the old public key listed', async () => {
    const tenant = await buildTenant(t);
    await records(tenant, ENTRIES);
    await t.app.services.checkpoints.runOnce();
    const before = await publicKeys(tenant);
    const rotated = runCli(['audit', 'rotate-signing-key', '--json'], t.env);
    expect(rotated.stderr).toBe('');
    expect(rotated.status).toBe(0);
    const newKey = JSON.parse(rotated.stdout);
    await records(tenant, ENTRIES);
    await t.app.services.checkpoints.runOnce();

    const after = await publicKeys(tenant);
    expect(after).toHaveLength(before.length + 1);
    const old = after.find((key) => key.keyId === before.at(-1)!.keyId)!;
    expect(old.retiredAt).not.toBeNull();
    expect(after.at(-1)).toMatchObject({ keyId: newKey.keyId, retiredAt: null });
    const printed = runCli(['audit', 'public-keys', '--json'], t.env);
    expect(printed.status).toBe(0);
    expect(JSON.parse(printed.stdout).keys.map((key: PublicKey) => [key.keyId, key.publicKeyPem])).toEqual(after.map((key) => [key.keyId, key.publicKeyPem]));
    const { items } = (await t.request({ method: 'GET', url: '/v1/access-log/checkpoints', token: tenant.token })).json();
    expect(items.map((c: { keyId: string }) => c.keyId)).toEqual([old.keyId, newKey.keyId]);

    await exportTo(tenant, 'rotated.ndjson');
    writeFileSync(join(files, 'keys.pem'), after.map((key) => key.publicKeyPem).join(''));
    expect(verifyExport('rotated.ndjson', join(files, 'keys.pem')).status).toBe(0);
    expect(verifyExport('rotated.ndjson', old.publicKeyPem, newKey.publicKeyPem).status).toBe(0);
    const newOnly = verifyExport('rotated.ndjson', newKey.publicKeyPem);
    expect(newOnly.status).toBe(1);
    expect(newOnly.stdout).toContain(`signed by key "${old.keyId}", which is not among the public keys given`);
    expect(runCli(['audit', 'verify', '--tenant', tenant.tenantId], t.env).status).toBe(0);

    const events = await t.app.services.db.selectFrom('security_events').select(['actor_type', 'actor_id']).where('type', '=', 'audit.signingKey.rotated').execute();
    expect(events).toEqual([{ actor_type: 'system', actor_id: expect.stringMatching(/^host:/) }]);
  });

  it('lets only owners and admins list checkpoints, export or read the public keys', async () => {
    const tenant = await buildTenant(t);
    await t.app.services.db.updateTable('memberships').set({ role: 'member' }).where('user_id', '=', tenant.userId).execute();
    const member = await signIn(t, tenant.email, tenant.password);
    for (const url of ['/v1/access-log/checkpoints', '/v1/access-log/export', '/v1/access-log/public-keys']) {
      const response = await t.request({ method: 'GET', url, token: member.token });
      expect(response.statusCode, url).toBe(403);
      expect(errorCode(response)).toBe('FORBIDDEN');
      expect((await t.request({ method: 'GET', url })).statusCode, url).toBe(401);
    }
  });

  it('re-wraps every signing key under a new master key (what a master-key rotation calls), in its transaction', async () => {
    const { db, signingKeys, clock } = t.app.services;
    const next = inMemoryMasterKey('env', randomBytes(32), 'next master key');
    const count = (await signingKeys.publicKeys()).length;
    const rollback = new Error('roll back');
    await expect(
      db.transaction().execute(async (trx) => {
        expect(await signingKeys.rewrapUnder(trx, next)).toBe(count);
        expect((await new SigningKeys(trx, next, clock).authenticPublicKeys()).size).toBe(count);
        expect((await new SigningKeys(trx, t.app.services.masterKey, clock).authenticPublicKeys()).size).toBe(0);
        throw rollback;
      }),
    ).rejects.toBe(rollback);
    expect((await signingKeys.authenticPublicKeys()).size).toBe(count);
  });

  it('keeps the signing key wrapped under the master key, never in the clear', async () => {
    const row = await t.app.services.db.selectFrom('signing_keys').selectAll().orderBy('version').executeTakeFirstOrThrow();
    expect(row.wrapped_private_key).toMatch(/^w1\.A256GCM\./);
    expect(row.master_key_id).toBe(t.app.services.masterKey.id);
    await exportTo(await buildTenant(t), 'own.ndjson');
    expect(readFileSync(join(files, 'own.ndjson'), 'utf8')).not.toContain(row.wrapped_private_key);
  });
});
