import type autocannon from 'autocannon';
import { drive, type Figures } from './drive.js';
import type { SignedInTenant } from './scale-server.js';
import { seedData } from './seed-tenant.js';

export type Phase = 'read' | 'create' | 'list';
export const PHASES: readonly Phase[] = ['read', 'create', 'list'];

/** The records a list returns: every seeded tenant of either database has at least this many per collection. */
export const LIST_LIMIT = 20;

// The same 1 KiB record the seed wrote and bench/run.ts creates.
const BODY = JSON.stringify(seedData(0));

const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)]!;

/** One request of a phase for a tenant drawn at random from the sample: its path, token and body. */
function requestFor(phase: Phase, tenants: readonly SignedInTenant[]): autocannon.Request {
  return {
    setupRequest: (request) => {
      const tenant = pick(tenants);
      const [collection, id] = pick(tenant.ids);
      const headers = { authorization: `Bearer ${tenant.token}`, 'content-type': 'application/json' };
      if (phase === 'create') return { ...request, method: 'POST', path: `/v1/collections/${collection}/records`, headers, body: BODY };
      if (phase === 'read') return { ...request, method: 'GET', path: `/v1/collections/${collection}/records/${id}`, headers: { authorization: headers.authorization } };
      return { ...request, method: 'GET', path: `/v1/collections/${collection}/records?limit=${LIST_LIMIT}`, headers: { authorization: headers.authorization } };
    },
  };
}

/** Drives one phase over keep-alive HTTPS, each request for a random tenant of the sample; any non-2xx answer fails the bench. */
export async function drivePhase(port: number, phase: Phase, tenants: readonly SignedInTenant[], connections: number, duration: number): Promise<Figures> {
  return drive(`https://127.0.0.1:${port}`, [requestFor(phase, tenants)], connections, duration);
}
