import type { Generated } from 'kysely';

/** One rotation's resumable re-encryption job (migration 0010). */
export interface KeyRotationsTable {
  id: string;
  owner: string;
  purpose: 'data';
  to_version: number;
  algorithm: string;
  state: 'running' | 'done' | 'superseded';
  requested_by: string;
  field: string | null;
  position: string | null;
  values_total: Generated<number>;
  values_done: Generated<number>;
  started_at: string;
  updated_at: string;
  finished_at: string | null;
}

/** Migration 0010: keys that rotate (key_ring's own new columns are in schema.ts). */
export interface KeyLifecycleTables {
  key_rotations: KeyRotationsTable;
}
