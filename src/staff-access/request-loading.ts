import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import { notFound } from '../lib/app-error.js';
import { ACCESS_REQUEST_CURSOR } from './access-request-cursor.js';
import { findRequestRow, listRequestRows, type RequestFilter, type RequestRow } from './access-request-repository.js';
import { toRequestView, type AccessRequestView, type ViewKeys } from './access-request-view.js';
import type { AccessStatus } from './access-status.js';
import { statusClock } from './access-status.js';
import type { StaffAccessDeps } from './staff-access-deps.js';

/** The keys to show a request of `tenantId`: the tenant's for what people wrote, the system's for staff addresses. */
export async function viewKeys(deps: Pick<StaffAccessDeps, 'keyRing'>, tenantId: string): Promise<ViewKeys> {
  return { tenantCipher: await deps.keyRing.cipherFor(tenantId), systemCipher: deps.keyRing.systemCipher() };
}

/**
 * One request as clients see it; 404 when out of scope. Inside a transaction, pass `trx` and the
 * keys fetched before it began: on SQLite the one connection belongs to the transaction, and a
 * key look-up through the pool would wait for it forever.
 */
export async function loadRequest(
  db: Kysely<DB>,
  deps: StaffAccessDeps,
  id: string,
  scope: { tenantId?: string; staffId?: string } = {},
  keys?: ViewKeys,
): Promise<AccessRequestView> {
  const row = await findRequestRow(db, id, scope);
  if (!row) throw notFound();
  return toRequestView(row, keys ?? (await viewKeys(deps, row.tenant_id)), deps.clock.now());
}

export interface ListOptions {
  status?: AccessStatus;
  limit: number;
  cursor?: string;
}

export interface RequestPage {
  items: AccessRequestView[];
  nextCursor: string | null;
}

/** A page of requests matching `filter`, newest first, each shown with its own tenant's key. */
export async function listRequests(deps: StaffAccessDeps, filter: Omit<RequestFilter, 'beforeId' | 'limit' | 'status'>, options: ListOptions): Promise<RequestPage> {
  const now = deps.clock.now();
  const beforeId = options.cursor === undefined ? undefined : ACCESS_REQUEST_CURSOR.decode(options.cursor);
  const rows = await listRequestRows(deps.db, { ...filter, status: options.status, beforeId, limit: options.limit + 1 }, statusClock(now));
  const page = rows.slice(0, options.limit);
  const keys = new Map<string, ViewKeys>();
  const items: AccessRequestView[] = [];
  for (const row of page) items.push(toRequestView(row, await cachedKeys(deps, keys, row), now));
  const last = page[page.length - 1];
  return { items, nextCursor: rows.length > options.limit && last ? ACCESS_REQUEST_CURSOR.encode(last.id) : null };
}

async function cachedKeys(deps: StaffAccessDeps, cache: Map<string, ViewKeys>, row: RequestRow): Promise<ViewKeys> {
  let keys = cache.get(row.tenant_id);
  if (!keys) {
    keys = await viewKeys(deps, row.tenant_id);
    cache.set(row.tenant_id, keys);
  }
  return keys;
}
