/**
 * Ends the process with `code` once everything written to stdout and stderr has been handed to
 * the operating system. When stdout is a pipe (`confide audit verify --json | jq`), Node writes
 * to it asynchronously, and `process.exit` at once would drop whatever the pipe had not yet taken
 * (a report past the pipe's 64 KiB buffer was cut off). Waiting for the output alone is not enough
 * either: a command may leave a handle open (a database pool, a syslog socket, a timer) that would
 * keep the process alive, so it still exits, just after its output. An empty write's callback runs
 * once the writes queued before it have completed (or failed: a reader that went away, as with
 * `| head`, must not keep the process alive).
 */
export function exitAfterOutput(code: number): void {
  process.exitCode = code;
  let waiting = 2;
  const written = () => {
    waiting -= 1;
    if (waiting === 0) process.exit(code);
  };
  for (const stream of [process.stdout, process.stderr]) {
    if (stream.destroyed || !stream.writable) written();
    else stream.write('', written);
  }
}
