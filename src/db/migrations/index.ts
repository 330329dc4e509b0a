import type { Migration, MigrationProvider } from 'kysely';
import { foundation } from './0001-foundation.js';
import { identity } from './0002-identity.js';
import { members } from './0003-members.js';
import { accountSecurity } from './0004-account-security.js';
import { webauthn } from './0005-webauthn.js';
import { emailVerification } from './0006-email-verification.js';
import { staffAccess } from './0007-staff-access.js';
import { monitoring } from './0008-monitoring.js';
import { monitoringColumns } from './0009-monitoring-columns.js';
import { keyLifecycle } from './0010-key-lifecycle.js';
import { accessLogCheckpoints } from './0011-access-log-checkpoints.js';
import { nextKeyVersions } from './0012-next-key-versions.js';
import { recordFiles } from './0013-record-files.js';

/** Forward-only migrations, in order. Never edit one that has shipped; add the next. */
const MIGRATIONS: Record<string, Migration> = {
  '0001-foundation': foundation,
  '0002-identity': identity,
  '0003-members': members,
  '0004-account-security': accountSecurity,
  '0005-webauthn': webauthn,
  '0006-email-verification': emailVerification,
  '0007-staff-access': staffAccess,
  '0008-monitoring': monitoring,
  '0009-monitoring-columns': monitoringColumns,
  '0010-key-lifecycle': keyLifecycle,
  '0011-access-log-checkpoints': accessLogCheckpoints,
  '0012-next-key-versions': nextKeyVersions,
  '0013-record-files': recordFiles,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => MIGRATIONS,
};
