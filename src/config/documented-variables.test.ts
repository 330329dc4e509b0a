import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DOCUMENTED_VARIABLES, describeVariables } from './documented-variables.js';

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

/** What loadConfig reads: `read('CONFIDE_X', <default>, parser)` → name → the literal default ('' for undefined, null when computed). */
function readByLoadConfig(): Map<string, string | null> {
  const reads = new Map<string, string | null>();
  for (const [, name, fallback] of read('./load-config.ts').matchAll(/read\(\s*'(CONFIDE_[A-Z0-9_]+)',\s*([^,]+),/g)) {
    const literal = /^'(.*)'$/.exec(fallback!.trim());
    reads.set(name!, fallback!.trim() === 'undefined' ? '' : literal ? literal[1]! : null);
  }
  return reads;
}

describe('the list of configuration variables (confide serve --help)', () => {
  const listed = new Map(DOCUMENTED_VARIABLES.map((variable) => [variable.name, variable.default]));

  it('names each variable once', () => {
    expect(listed.size).toBe(DOCUMENTED_VARIABLES.length);
  });

  it('names the same variables as docs/configuration.md and as loadConfig reads', () => {
    const docs = documentedInDocs();
    const reads = readByLoadConfig();
    expect(reads.size).toBeGreaterThan(30); // the pattern still finds loadConfig's reads
    expect([...listed.keys()].sort()).toEqual([...docs.keys()].sort());
    expect([...listed.keys()].sort()).toEqual([...reads.keys()].sort());
  });

  it('gives the defaults loadConfig applies, as docs/configuration.md states them', () => {
    const docs = documentedInDocs();
    const reads = readByLoadConfig();
    for (const [name, fallback] of listed) {
      const applied = reads.get(name);
      // A literal default in loadConfig must be the listed one; a computed one must be described.
      if (applied === null) expect(fallback, name).not.toBe('');
      else expect(fallback, name).toBe(applied);
      if (fallback !== '') expect(docs.get(name), name).toContain(fallback);
    }
  });

  it('prints one line per variable, with its default', () => {
    const lines = describeVariables().split('\n');
    expect(lines).toHaveLength(DOCUMENTED_VARIABLES.length);
    expect(lines.find((line) => line.includes('CONFIDE_LOG_FORMAT'))).toMatch(/json, pretty .*auto.*\(default: auto\)$/);
    expect(lines.find((line) => line.includes('CONFIDE_MASTER_KEY '))).not.toContain('default');
  });
});
