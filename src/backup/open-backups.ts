import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Services } from '../app/services.js';
import { openObjectStore } from '../storage/open-object-store.js';
import { Backups } from './backups.js';

const release = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** The deployment's backups at CONFIDE_BACKUP_TARGET; null when none is configured (nothing is backed up, a tenant deletion has no copies to shred). */
export function openBackups(services: Omit<Services, 'backups'>): Backups | null {
  const target = services.config.backup.target;
  if (!target) return null;
  return new Backups({ ...services, store: openObjectStore(target, services.config.s3), node: hostname(), release });
}
