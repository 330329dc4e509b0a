import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readManifest, recordCounts, seedDatabase, seedEnv } from '../../bench/seed.js';
import { freePort } from '../harness/free-port.js';
import { runCli } from '../harness/run-cli.js';
import { httpsJson, killHard, startServerProcess, type ServerProcess } from '../harness/server-process.js';

/*
 * Issue 13: the scale figures are only worth something if the seeded deployment is one Confide
 * made. The seed (bench/seed.ts) writes rows directly, so this holds its result to what Confide
 * itself checks: `confide audit verify` walks every chain (hashes, links, sealed IPs, heads) and
 * holds it against the seeded signed checkpoint; a real server opens it, signs a seeded owner in
 * with the manifest's password, and serves the seeded records, decrypted, through reads and lists.
 * Embedded SQLCipher only: the seed builds that kind of deployment.
 */
describe('the scale seed (bench/seed.ts)', () => {
  let root: string;
  let server: ServerProcess;
  const COUNTS = recordCounts(3, 50, 20); // 20, 15, 15

  beforeAll(async () => {
    root = join(mkdtempSync(join(tmpdir(), 'confide-seed-')), 'deployment');
    await seedDatabase({ root, tenants: 3, records: 50, bigTenantRecords: 20, say: () => undefined });
    server = await startServerProcess(seedEnv(root), await freePort());
  });

  afterAll(async () => {
    if (server) await killHard(server);
    if (root) rmSync(join(root, '..'), { recursive: true, force: true });
  });

  it('spreads the records: the big tenant first, the rest evenly', () => {
    expect(COUNTS).toEqual([20, 15, 15]);
    expect(recordCounts(4, 10, 4)).toEqual([4, 2, 2, 2]);
    expect(recordCounts(3, 11, 5)).toEqual([5, 3, 3]);
    expect(readManifest(root).tenants.map((tenant) => tenant.records)).toEqual(COUNTS);
  });

  it('keeps the manifest with the shared password private to its owner', () => {
    expect(statSync(join(root, 'seed.json')).mode & 0o777).toBe(0o600);
    expect(statSync(join(root, 'master-key')).mode & 0o777).toBe(0o600);
  });

  it('passes confide audit verify: one create entry per record, chained, sealed, headed and signed', () => {
    // The server holds the database open; verify reads beside it as an operator would.
    const verified = runCli(['audit', 'verify', '--json'], seedEnv(root));
    expect(verified.stderr).toBe('');
    expect(verified.status).toBe(0);
    const report = JSON.parse(verified.stdout) as { ok: boolean; tenants: Array<{ tenantId: string; entries: number; problems: unknown[]; checkpoint: { seq: number } | null }> };
    expect(report.ok).toBe(true);
    const seeded = readManifest(root).tenants;
    expect(report.tenants.map((t) => [t.tenantId, t.entries, t.checkpoint?.seq])).toEqual(seeded.map((t, i) => [t.id, COUNTS[i], COUNTS[i]]));
  });

  it('serves the seeded records to a seeded owner signed in through the API', async () => {
    const { password, tenants } = readManifest(root);
    const tenant = tenants[1]!;
    const signedIn = await httpsJson(server.port, 'POST', '/v1/sessions', { email: tenant.email, password });
    expect(signedIn.status).toBe(201);
    const token = signedIn.body.token as string;
    expect(tenant.ids).toHaveLength(6);
    for (const [n, [collection, id]] of tenant.ids.entries()) {
      const read = await httpsJson(server.port, 'GET', `/v1/collections/${collection}/records/${id}`, undefined, token);
      expect(read.status).toBe(200);
      expect(read.body.data).toMatchObject({ n, name: `Seed Record ${n}` });
    }
    const listed = await httpsJson(server.port, 'GET', '/v1/collections/contacts/records?limit=200', undefined, token);
    expect(listed.status).toBe(200);
    expect(listed.body.items).toHaveLength(5); // records 0, 3, 6, 9, 12 of 15
    // Reads append after the seeded chain: the log goes on from where the seed left its head.
    const log = await httpsJson(server.port, 'GET', '/v1/access-log/verify', undefined, token);
    expect(log.status).toBe(200);
    expect(log.body).toMatchObject({ ok: true });
  });
});
