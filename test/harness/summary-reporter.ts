import type { Reporter, File, Task } from 'vitest';

/**
 * Ends the run with one plain line, `tests: N passed, N failed, N skipped`, which CI systems
 * that do not know Vitest's own summary can read.
 */
export default class SummaryReporter implements Reporter {
  onFinished(files: File[] = []): void {
    const counts = { pass: 0, fail: 0, skip: 0 };
    const visit = (task: Task) => {
      if (task.type === 'suite') {
        for (const child of task.tasks) visit(child);
        if (task.result?.state === 'fail' && task.tasks.length === 0) counts.fail += 1;
        return;
      }
      const state = task.result?.state;
      if (state === 'pass') counts.pass += 1;
      else if (state === 'fail') counts.fail += 1;
      else counts.skip += 1;
    };
    for (const file of files) {
      visit(file);
      if (file.result?.state === 'fail' && file.tasks.length === 0) counts.fail += 1; // a file that failed to load
    }
    process.stdout.write(`\ntests: ${counts.pass} passed, ${counts.fail} failed, ${counts.skip} skipped\n`);
  }
}
