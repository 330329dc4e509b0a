import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp } from '../../src/app/create-app.js';
import { loadConfig } from '../../src/config/load-config.js';

/**
 * Both listeners' OpenAPI documents as one (their paths do not overlap but for `/healthz`), from
 * a throwaway in-process Confide on SQLite. (No vitest here: `npm run docs:errors` uses it
 * outside the test runner.)
 */
export async function openApiDocument(): Promise<OpenApiDocument> {
  const root = mkdtempSync(join(tmpdir(), 'confide-openapi-'));
  const env = { CONFIDE_DATA_DIR: join(root, 'data'), CONFIDE_MASTER_KEY: randomBytes(32).toString('base64'), CONFIDE_LOG_LEVEL: 'silent' };
  const app = await createApp(loadConfig(env, root), { startWorkers: false, createIfMissing: true });
  try {
    const publicDoc = (await app.publicServer.inject({ method: 'GET', url: '/v1/openapi.json' })).json<OpenApiDocument>();
    const adminDoc = (await app.adminServer.inject({ method: 'GET', url: '/admin/v1/openapi.json' })).json<OpenApiDocument>();
    return mergeDocuments(publicDoc, adminDoc);
  } finally {
    await app.close();
    rmSync(root, { recursive: true, force: true });
  }
}

export interface OpenApiDocument {
  paths: Record<string, Record<string, { responses?: Record<string, unknown> }>>;
}

/** The paths of both listeners' documents, public first. */
export function mergeDocuments(publicDoc: OpenApiDocument, adminDoc: OpenApiDocument): OpenApiDocument {
  return { paths: { ...publicDoc.paths, ...adminDoc.paths } };
}
