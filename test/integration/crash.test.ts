import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DIALECTS, freshPostgresSchema } from '../harness/dialects.js';
import { httpsJson, killHard, startServerProcess, verifyEmailThroughOutbox } from '../harness/server-process.js';
import { openEncryptedSqlite } from '../../src/db/open-encrypted-sqlite.js';
import { deriveKey } from '../../src/lib/key-derivation.js';
import { freePort } from '../harness/free-port.js';


async function pageThrough(port: number, firstUrl: string, token: string): Promise<any[]> {
  const items: any[] = [];
  let cursor: string | null = null;
  do {
    const url: string = `${firstUrl}${cursor ? `&cursor=${cursor}` : ''}`;
    const page = await httpsJson(port, 'GET', url, undefined, token);
    expect(page.status).toBe(200);
    items.push(...page.body.items);
    cursor = page.body.nextCursor;
  } while (cursor);
  return items;
}

const WRITERS = 8;
const LOAD_MS = 2500;

/**
 * SQLite's crash tests, in miniature: a real server process under concurrent write load is killed
 * with SIGKILL. Every create it acknowledged (201) must be there after a restart, readable and
 * intact, and the access log must still verify.
 */
describe.each(DIALECTS)('crash safety on %s', (dialect) => {
  it('loses no acknowledged write when the process is killed mid-load', { timeout: 120_000 }, async () => {
    const root = mkdtempSync(join(tmpdir(), 'confide-crash-'));
    const masterKey = randomBytes(32).toString('base64');
    const env: Record<string, string> = {
      CONFIDE_DATA_DIR: join(root, 'data'),
      CONFIDE_MASTER_KEY: masterKey,
      CONFIDE_LOG_LEVEL: 'warn',
      ...(dialect === 'postgres' ? { CONFIDE_DATABASE_URL: (await freshPostgresSchema()).url } : {}),
    };
    const port = await freePort();
    try {
      let server = await startServerProcess(env, port);
      const signup = await httpsJson(port, 'POST', '/v1/signup', { organization: 'Crash Co', email: 'crash@example.test', password: 'a-long-and-unusual-passphrase' });
      expect(signup.status).toBe(201);
      await verifyEmailThroughOutbox(port, env, 'crash@example.test');
      const { body: session } = await httpsJson(port, 'POST', '/v1/sessions', { email: 'crash@example.test', password: 'a-long-and-unusual-passphrase' });

      const acknowledged = new Map<string, number>();
      let stop = false;
      let failures = 0;
      const writer = async (w: number) => {
        for (let i = 0; !stop; i += 1) {
          const payload = { writer: w, i, filler: randomBytes(64).toString('hex') };
          try {
            const response = await httpsJson(port, 'POST', '/v1/collections/load/records', payload, session.token);
            if (response.status === 201) acknowledged.set(response.body.id, i + w * 1_000_000);
          } catch {
            failures += 1; // the connection died with the process: not acknowledged
            return;
          }
        }
      };
      const writers = Array.from({ length: WRITERS }, (_, w) => writer(w));
      await new Promise((resolve) => setTimeout(resolve, LOAD_MS));
      await killHard(server);
      stop = true;
      await Promise.all(writers);
      expect(acknowledged.size).toBeGreaterThan(20);
      expect(failures).toBeGreaterThan(0); // requests really were in flight at the kill

      if (dialect === 'sqlite') {
        const db = openEncryptedSqlite(join(env.CONFIDE_DATA_DIR!, 'confide.db'), deriveKey(Buffer.from(masterKey, 'base64'), 'sqlcipher-page-key'));
        expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
        db.close();
      }

      server = await startServerProcess(env, port);
      try {
        for (const [id, marker] of acknowledged) {
          const read = await httpsJson(port, 'GET', `/v1/collections/load/records/${id}`, undefined, session.token);
          expect(read.status, id).toBe(200);
          expect(read.body.data.i + read.body.data.writer * 1_000_000).toBe(marker);
        }
        const verify = await httpsJson(port, 'GET', '/v1/access-log/verify', undefined, session.token);
        expect(verify.body).toMatchObject({ ok: true, problems: [] });
        // Every stored record has its create entry (same transaction): none without, none extra.
        const stored = await pageThrough(port, '/v1/collections/load/records?limit=200', session.token);
        const logged = (await pageThrough(port, '/v1/access-log?limit=500', session.token))
          .filter((entry) => entry.action === 'create')
          .map((entry) => entry.resource.id);
        const storedIds = stored.map((record) => record.id);
        expect([...logged].sort()).toEqual([...storedIds].sort());
        for (const id of acknowledged.keys()) expect(storedIds).toContain(id);
      } finally {
        await killHard(server);
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
