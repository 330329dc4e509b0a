/**
 * `npm run docs:errors`: rewrites the per-endpoint table in docs/errors.md from the OpenAPI
 * description of the running code (every route's declared error statuses). A test fails when
 * the two drift apart.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { errorTableFromOpenApi, replaceErrorTable } from '../test/harness/error-table.js';
import { openApiDocument } from '../test/harness/openapi-document.js';

const file = new URL('../docs/errors.md', import.meta.url);
const table = errorTableFromOpenApi(await openApiDocument());
writeFileSync(file, replaceErrorTable(readFileSync(file, 'utf8'), table));
process.stdout.write('docs/errors.md: per-endpoint table rewritten\n');
