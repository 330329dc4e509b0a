import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DOCUMENTED_VARIABLES, describeVariables } from './documented-variables.js';
import { loadConfig } from './load-config.js';

const read = (path: string) => readFileSync(new URL(path, import.meta.url), 'utf8');
const stripMarkdown = (text: string) => text.replace(/`/g, '').trim();

/** The variables of docs/configuration.md's tables: name → the table row's default cell. */
function documentedInDocs(): Map<string, string> {
  const rows = new Map<string, string>();
  for (const line of read('../../docs/configuration.md').split('\n')) {
    if (!line.startsWith('| `CONFIDE_')) continue;
    const cells = line.split(' | ');
    const fallback = stripMarkdown(cells[cells.length - 1]!.replace(/\|\s*$/, ''));
    for (const [name] of cells[0]!.matchAll(/CONFIDE_[A-Z0-9_]+/g)) rows.set(name, fallback);
  }
  return rows;
}

/** Nothing outside the table: loadConfig names no variable of its own but the removed ones it refuses. */
function namedByLoadConfigOutsideTheTable(): string[] {
  const source = read('./load-config.ts');
  const removed = source.slice(source.indexOf('const REMOVED'), source.indexOf('};', source.indexOf('const REMOVED')));
  const messages = [...source.matchAll(/problems\.push\('([^']*)'\)/g)].map((m) => m[1]!).join(' ');
  return [...source.matchAll(/CONFIDE_[A-Z0-9_]+/g)]
    .map((m) => m[0])
    .filter((name) => !removed.includes(name) && !messages.includes(name));
}

describe('the list of configuration variables (confide serve --help)', () => {
  const listed = new Map(DOCUMENTED_VARIABLES.map((variable) => [variable.name, variable.default]));

  it('names each variable once', () => {
    expect(listed.size).toBe(DOCUMENTED_VARIABLES.length);
  });

  it('names the same variables as docs/configuration.md, and loadConfig reads only through the table', () => {
    const docs = documentedInDocs();
    expect(listed.size).toBeGreaterThan(30);
    expect([...listed.keys()].sort()).toEqual([...docs.keys()].sort());
    expect(namedByLoadConfigOutsideTheTable()).toEqual([]);
  });

  it('gives each default as docs/configuration.md states it, and applies it', () => {
    const docs = documentedInDocs();
    for (const [name, fallback] of listed) {
      if (fallback !== '') expect(docs.get(name), name).toContain(fallback);
    }
    // The literal defaults are what loadConfig applies with an empty environment.
    const config = loadConfig({}, '/srv/confide');
    expect(config.tls.profile).toBe(listed.get('CONFIDE_TLS_PROFILE'));
    expect(String(config.http.bodyLimitBytes)).toBe(listed.get('CONFIDE_BODY_LIMIT_BYTES'));
    expect(String(config.lists.maxBytes)).toBe(listed.get('CONFIDE_LIST_MAX_BYTES'));
    expect(String(config.limits.sessionsPerUser)).toBe(listed.get('CONFIDE_MAX_SESSIONS_PER_USER'));
    expect(config.publicUrl).toBe('https://localhost:8443');
  });

  it('prints one line per variable, with its default', () => {
    const lines = describeVariables().split('\n');
    expect(lines).toHaveLength(DOCUMENTED_VARIABLES.length);
    expect(lines.find((line) => line.includes('CONFIDE_LOG_FORMAT'))).toMatch(/json, pretty .*auto.*\(default: auto\)$/);
    expect(lines.find((line) => line.includes('CONFIDE_MASTER_KEY '))).not.toContain('default');
  });
});
