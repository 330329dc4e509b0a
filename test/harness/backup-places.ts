import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { createPostgresSchema, type TestDialect } from './dialects.js';
import { createTestApp, type TestApp } from './test-app.js';

/**
 * Deployments for the backup suites, cleaned up after each test: temporary folders (`tempDir`), a
 * deployment's settings (`place`: its own data and tenant key directories, its own schema on
 * PostgreSQL, one backup target and master key) and apps started on them (`start`).
 */
export function backupPlaces() {
  const apps: TestApp[] = [];
  const roots: string[] = [];
  afterEach(async () => {
    for (const app of apps.splice(0)) await app.close().catch(() => {});
    for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
  });

  function tempDir(prefix: string): string {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    roots.push(dir);
    return dir;
  }

  async function place(dialect: TestDialect, target: string, masterKey: string) {
    const root = tempDir('confide-backup-');
    const schema = dialect === 'postgres' ? await createPostgresSchema() : undefined;
    return {
      CONFIDE_DATA_DIR: join(root, 'data'),
      CONFIDE_TENANT_KEY_DIR: join(root, 'tenant-keys'),
      CONFIDE_MASTER_KEY: masterKey,
      CONFIDE_BACKUP_TARGET: target,
      ...(schema ? { CONFIDE_DATABASE_URL: schema.url } : {}),
    };
  }

  async function start(dialect: TestDialect, env: Record<string, string>): Promise<TestApp> {
    const t = await createTestApp(dialect, { env, smtp: true });
    apps.push(t);
    return t;
  }

  return { apps, roots, tempDir, place, start };
}
