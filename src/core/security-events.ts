import type { SecurityEventType } from './security-event-types.js';

/**
 * A security-relevant event (ASVS 16.3): who, what, where, the outcome. Never a credential.
 * Today they go to the structured log; the centralised store and the monitor build on this seam.
 */
export interface SecurityEventActor {
  /** `operator`: someone on the host through the `confide` command (id `host:<user>`), as the access log names them too (core/actor.ts). */
  type: 'member' | 'apiKey' | 'staff' | 'system' | 'operator';
  id: string;
}

export interface SecurityEvent {
  /** One of the catalogue's names (security-event-types.ts). */
  type: SecurityEventType;
  outcome: 'success' | 'failure' | 'refused';
  /** Who acted, when that is not simply `userId` (an API key, staff, the system). */
  actor?: SecurityEventActor;
  /** The user the event is about, and who acted unless `actor` says otherwise. */
  userId?: string;
  tenantId?: string;
  ip?: string;
  details?: Record<string, unknown>;
  /**
   * How many customer records the action returned or changed (a staff list page, a read), kept in
   * a plain column so the monitor sums them per staff member without decrypting `details`.
   */
  records?: number;
  /**
   * A failed password sign-in's blind index of the normalised address tried (securityEventTargetIndex),
   * never the address: the monitor counts the addresses one source tries, known or not.
   */
  targetIndex?: string;
}

export interface SecurityEventSink {
  /** Logs the event at once and stores it in the background. */
  record(event: SecurityEvent): void;
  /** Resolves when every event recorded so far is stored. */
  flush(): Promise<void>;
}
