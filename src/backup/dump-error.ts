/**
 * A dump that cannot be made or loaded as it stands: a checksum or count that differs, a migration
 * newer than this code, a database that is not empty. Not an HTTP error (no route loads a dump):
 * the backup CLI prints its message as the one line it fails with, so the message names the table
 * or the migration and never a value from a row.
 */
export class DumpError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DumpError';
  }
}
