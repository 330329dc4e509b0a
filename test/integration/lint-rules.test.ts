import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * The dependency direction of docs/architecture.md is a lint rule: this plants one forbidden
 * import in each layer (a temporary file inside src/, so the real configuration applies) and
 * shows lint refuses it, next to an allowed import that passes.
 */
const PROBES: Array<{ folder: string; forbidden: string; allowed: string }> = [
  { folder: 'lib', forbidden: "import type { Config } from '../config/config.js';", allowed: "import { newId } from './ids.js';" },
  { folder: 'config', forbidden: "import type { DB } from '../db/schema.js';", allowed: "import { newId } from '../lib/ids.js';" },
  { folder: 'db', forbidden: "import type { KeyRing } from '../keys/key-ring.js';", allowed: "import type { Config } from '../config/config.js';" },
  { folder: 'keys', forbidden: "import type { Principal } from '../core/principal.js';", allowed: "import type { DB } from '../db/schema.js';" },
  { folder: 'core', forbidden: "import type { KeyRing } from '../keys/key-ring.js';", allowed: "import { newId } from '../lib/ids.js';" },
  { folder: 'records', forbidden: "import Fastify from 'fastify';", allowed: "import type { Principal } from '../core/principal.js';" },
  { folder: 'identity/mfa', forbidden: "import { sendError } from '../../http/error-response.js';", allowed: "import { newId } from '../../lib/ids.js';" },
  { folder: 'members', forbidden: "import { createApp } from '../app/create-app.js';", allowed: "import type { Principal } from '../core/principal.js';" },
  { folder: 'http', forbidden: "import type { Records } from '../records/records.js';", allowed: "import { newId } from '../lib/ids.js';" },
];

describe('lint keeps the dependency direction', () => {
  const planted: string[] = [];
  afterAll(() => {
    for (const file of planted) rmSync(file, { force: true });
  });

  function plant(folder: string, source: string): string {
    const file = join(ROOT, 'src', folder, `lint-probe-${randomBytes(4).toString('hex')}.ts`);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, `${source}\nexport const probe = ${JSON.stringify(folder)};\nvoid [${/import (?:type )?\{? ?(\w+)/.exec(source)![1]}];\n`);
    planted.push(file);
    return file;
  }

  it('refuses a forbidden import in every layer and accepts an allowed one', { timeout: 120_000 }, async () => {
    const files = PROBES.flatMap((probe) => [
      { probe, kind: 'forbidden' as const, file: plant(probe.folder, probe.forbidden) },
      { probe, kind: 'allowed' as const, file: plant(probe.folder, probe.allowed) },
    ]);
    const results = await new ESLint({ cwd: ROOT }).lintFiles(files.map((f) => f.file));
    for (const { probe, kind, file } of files) {
      const result = results.find((r) => r.filePath === file)!;
      const restricted = result.messages.filter((m) => m.ruleId === 'no-restricted-imports');
      if (kind === 'forbidden') expect(restricted.length, `${probe.folder}: ${probe.forbidden}`).toBeGreaterThan(0);
      else expect(restricted, `${probe.folder}: ${probe.allowed}`).toEqual([]);
    }
  });
});
