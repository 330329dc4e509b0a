import type { OpenApiDocument } from './openapi-document.js';

export const TABLE_START = '<!-- error-table:start (npm run docs:errors) -->';
export const TABLE_END = '<!-- error-table:end -->';

/** One row per operation: the error statuses it declares, in order. */
export function errorTableFromOpenApi(doc: OpenApiDocument): string {
  const rows = Object.entries(doc.paths).flatMap(([path, operations]) =>
    Object.entries(operations).map(([method, operation]) => {
      const statuses = Object.keys(operation.responses ?? {})
        .map(Number)
        .filter((status) => status >= 400)
        .sort((a, b) => a - b);
      return `| \`${method.toUpperCase()} ${path}\` | ${statuses.join(', ') || '—'} |`;
    }),
  );
  return ['| endpoint | error statuses it can answer (besides 414, 431, 500) |', '|---|---|', ...rows].join('\n');
}

export function replaceErrorTable(markdown: string, table: string): string {
  const start = markdown.indexOf(TABLE_START);
  const end = markdown.indexOf(TABLE_END);
  if (start < 0 || end < start) throw new Error('docs/errors.md has no error-table markers');
  return `${markdown.slice(0, start + TABLE_START.length)}\n${table}\n${markdown.slice(end)}`;
}

export function currentErrorTable(markdown: string): string {
  const start = markdown.indexOf(TABLE_START);
  const end = markdown.indexOf(TABLE_END);
  if (start < 0 || end < start) return '';
  return markdown.slice(start + TABLE_START.length, end).trim();
}
