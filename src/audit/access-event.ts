import type { Actor } from '../core/actor.js';

export type { Actor, ActorType } from '../core/actor.js';
export type AccessAction = 'read' | 'list' | 'create' | 'update' | 'delete' | 'export' | 'download' | 'upload' | 'verify';

export interface AccessedResource {
  type: string;
  collection?: string;
  id?: string;
}

/** One access to customer data, as the caller describes it before it is appended to the log. */
export interface AccessEvent {
  actor: Actor;
  action: AccessAction;
  resource: AccessedResource;
  details?: Record<string, unknown>;
  grantId?: string;
  justification?: string;
  ip: string;
}

/** An entry as it stands in the tenant's log: the event, its place in the chain, and its hash. */
export interface AccessLogEntry extends AccessEvent {
  seq: number;
  at: string;
  prevHash: string;
  hash: string;
}
