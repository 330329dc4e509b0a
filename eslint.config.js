// Lint: typescript-eslint's type-aware recommended rules, the security plugin, and the
// dependency direction of STYLE.md (domain code never imports Fastify; leaves never import up).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import security from 'eslint-plugin-security';

const restrict = (patterns) => ['error', { patterns }];

const DOMAINS = ['audit', 'key-rotation', 'mail', 'tenants', 'identity', 'members', 'api-keys', 'records', 'files', 'security-events', 'console-pages', 'staff', 'staff-access', 'metrics', 'monitoring'];
/** Import patterns for a folder at any depth below src (`../x/*`, `../../x/*`, `../../../x/*`). */
const folders = (...names) => names.flatMap((name) => [`../${name}/*`, `../../${name}/*`, `../../../${name}/*`]);
const FASTIFY = { group: ['fastify', '@fastify/*'], message: 'Domain code never imports Fastify; only routes.ts and src/http do.' };

/** A domain's HTTP routes: `routes.ts`, or `<audience>-routes.ts` where a domain serves two listeners. */
const ROUTE_FILES = ['src/**/routes.ts', 'src/**/*-routes.ts'];

function layers() {
  const rule = (files, patterns, extra = {}) => ({ files, ...extra, rules: { 'no-restricted-imports': restrict(patterns) } });
  const domainFiles = DOMAINS.map((d) => `src/${d}/**`);
  return [
    rule(['src/lib/**'], [{ group: ['../*'], message: 'lib is a leaf: it imports nothing of Confide.' }]),
    rule(['src/config/**'], [{ group: folders('db', 'keys', 'core', ...DOMAINS, 'http', 'app', 'cli'), message: 'config depends only on lib.' }]),
    rule(['src/db/**'], [FASTIFY, { group: folders('keys', 'core', ...DOMAINS, 'http', 'app', 'cli'), message: 'db depends only on lib and config.' }]),
    rule(['src/keys/**'], [FASTIFY, { group: folders('core', ...DOMAINS, 'http', 'app', 'cli'), message: 'keys depends only on lib, config and db.' }]),
    rule(['src/core/**'], [FASTIFY, { group: folders('config', 'db', 'keys', ...DOMAINS, 'http', 'app', 'cli'), message: 'core is a base: it depends only on lib.' }]),
    rule(domainFiles, [FASTIFY, { group: folders('http', 'app', 'cli'), message: 'Dependencies point one way: domain code never imports http, app or cli (only routes files may import http).' }], {
      ignores: ROUTE_FILES,
    }),
    rule(ROUTE_FILES, [{ group: folders('app', 'cli'), message: 'Routes never import app or cli.' }]),
    rule(['src/http/**'], [{ group: folders(...DOMAINS, 'app', 'cli'), message: 'http is the HTTP kit: it imports no domain, app or cli.' }]),
  ];
}

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'bin/**', 'scripts/**', 'eslint.config.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  security.configs.recommended,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
      '@typescript-eslint/no-floating-promises': 'error',
      'no-restricted-syntax': [
        'error',
        { selector: "MemberExpression[object.name='process'][property.name='env']", message: 'Only src/config reads process.env.' },
      ],
      // Object-injection findings are noise on typed lookups, and every file path Confide opens
      // comes from its validated configuration; the rest of the security set stays on.
      'security/detect-object-injection': 'off',
      'security/detect-non-literal-fs-filename': 'off',
      // Interface implementations are async by contract even where one does not await.
      '@typescript-eslint/require-await': 'off',
    },
  },
  { files: ['src/config/**'], rules: { 'no-restricted-syntax': 'off' } },
  // The dependency direction (docs/architecture.md), one rule per layer. Each block lists what a
  // layer may not import; a test (test/integration/lint-rules.test.ts) plants a forbidden import
  // in each and shows lint fails.
  ...layers(),
  // Small files and functions (STYLE.md 9): a file over 300 lines or a function over 60 has two jobs.
  {
    files: ['src/**/*.ts'],
    ignores: ['src/**/*.test.ts', 'src/db/migrations/**'],
    rules: {
      'max-lines': ['error', { max: 300 }],
      'max-lines-per-function': ['error', { max: 60, skipBlankLines: true, skipComments: true }],
    },
  },
  {
    files: ['test/**', 'bench/**', '**/*.test.ts', 'vitest.config.ts', 'eslint.config.js'],
    rules: {
      'no-restricted-syntax': 'off',
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      'security/detect-non-literal-fs-filename': 'off',
      'security/detect-child-process': 'off',
      'security/detect-non-literal-regexp': 'off',
    },
  },
);
