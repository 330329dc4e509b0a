/**
 * No Confide database where the configuration points, and the command may not create one (only
 * `confide serve` may). A configuration problem (exit 78): most often the command was run from
 * another folder, or without the deployment's CONFIDE_DATA_DIR or CONFIDE_DATABASE_URL.
 * Kept apart from the database code so that the CLI can name it without loading a driver.
 */
export class MissingDatabaseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MissingDatabaseError';
  }
}
