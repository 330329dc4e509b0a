import type { SecurityEvent } from '../../src/core/security-events.js';
import { listAlerts, type AlertView } from '../../src/monitoring/alert-store.js';
import type { TestApp } from './test-app.js';

/**
 * Records a security event through the app's one sink, exactly as a use case does, and waits until
 * it is stored (at the test clock's time, with its source index).
 */
export async function recordEvent(t: TestApp, event: SecurityEvent): Promise<void> {
  t.app.services.securityEvents.record(event);
  await t.app.services.securityEvents.flush();
}

/** Every alert opened at or after `since` (any state), newest first. */
export async function alertsOpenedSince(t: TestApp, since: Date): Promise<AlertView[]> {
  const { items } = await listAlerts(t.app.services, { limit: 1000 });
  return items.filter((alert) => alert.openedAt >= since.toISOString());
}

/** Moves the test clock past every rule's window (the longest is 24 h), so earlier tests' events no longer count. */
export function freshWindow(t: TestApp): Date {
  t.clock.advance(2 * 86_400);
  return t.clock.now();
}
