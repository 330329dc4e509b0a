#!/usr/bin/env node
// The `confide` command: runs the compiled CLI (npm run build makes dist/).
import { existsSync } from 'node:fs';

const main = new URL('../dist/cli/main.js', import.meta.url);

// Run before a build, Node would print a raw ERR_MODULE_NOT_FOUND stack: say what to run instead.
if (!existsSync(main)) {
  process.stderr.write('confide: Confide is not built yet (no dist/cli/main.js): run `npm run build` (or `npm start`, which builds and serves)\n');
  process.exit(1);
}
try {
  await import(main.href);
} catch (error) {
  if (error?.code !== 'ERR_MODULE_NOT_FOUND') throw error;
  // A dependency or a compiled file is missing: the install or the build is incomplete.
  process.stderr.write(`confide: ${error.message.split('\n')[0]}: run \`npm ci && npm run build\`\n`);
  process.exit(1);
}
