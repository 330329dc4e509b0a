import type { Kysely, Migration } from 'kysely';

/**
 * Files attached to records (src/files/, docs/files.md). The file's bytes rest outside the
 * database, sealed under a key of their own (a blob named `storage_id`); this row holds that key
 * sealed by the tenant's data key (`key_enc`, with the file's content type and SHA-256), so key
 * rotation re-seals it like any other value and deleting the tenant's keys leaves every blob unreadable.
 */
export const recordFiles: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('record_files')
      .addColumn('tenant_id', 'text', (c) => c.notNull())
      .addColumn('collection', 'text', (c) => c.notNull())
      .addColumn('record_id', 'text', (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      /** A fresh id per upload, bound into the blob's and the key's AAD: a replaced file's old blob or key does not open as the new one. */
      .addColumn('upload_id', 'text', (c) => c.notNull())
      .addColumn('storage_id', 'text', (c) => c.notNull())
      .addColumn('size', 'bigint', (c) => c.notNull())
      .addColumn('key_enc', 'text', (c) => c.notNull())
      .addColumn('uploaded_at', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('record_files_pk', ['tenant_id', 'collection', 'record_id', 'name'])
      .execute();
  },
};
