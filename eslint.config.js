// Lint: typescript-eslint's type-aware recommended rules, the security plugin, and the
// dependency direction of STYLE.md (domain code never imports Fastify; leaves never import up).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import security from 'eslint-plugin-security';

const restrict = (patterns) => ['error', { patterns }];

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
  { files: ['src/lib/**'], rules: { 'no-restricted-imports': restrict([{ group: ['../*'], message: 'lib is a leaf: it imports nothing of Confide.' }]) } },
  {
    files: ['src/db/**', 'src/keys/**', 'src/audit/**', 'src/tenants/**', 'src/identity/**', 'src/records/**', 'src/core/**'],
    ignores: ['src/**/routes.ts'],
    rules: {
      'no-restricted-imports': restrict([
        { group: ['fastify', '@fastify/*'], message: 'Domain code never imports Fastify; only routes.ts does.' },
        { group: ['../http/*', '../app/*', '../cli/*'], message: 'Dependencies point one way: domains never import http, app or cli.' },
      ]),
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
