import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BUILD_INFO = join(ROOT, 'dist', '.tsbuildinfo');

function newestSourceMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSourceMtime(path));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

/** Whether dist/ was built after the last change to src/ (CI builds before the tests; a developer may not have). */
function distIsFresh(): boolean {
  try {
    return statSync(BUILD_INFO).mtimeMs >= newestSourceMtime(join(ROOT, 'src'));
  } catch {
    return false;
  }
}

let cached: string[] | undefined;

/**
 * The node arguments that run the `confide` command in tests: the compiled dist/cli/main.js when
 * dist/ is newer than every source file, else the source through tsx. Starting from dist is about
 * twice as fast (no transpiling on every start), which the process-heavy suites (the SIGKILL loop
 * starts a server 125 times) feel; a stale build is never used, so a test always runs the code as
 * it is. CONFIDE_TEST_FROM_SOURCE=1 forces the source.
 */
export function confideCommand(): string[] {
  if (!cached) {
    const fromDist = process.env.CONFIDE_TEST_FROM_SOURCE !== '1' && distIsFresh();
    cached = fromDist ? [join(ROOT, 'dist', 'cli', 'main.js')] : ['--import', 'tsx', 'src/cli/main.ts'];
  }
  return cached;
}
