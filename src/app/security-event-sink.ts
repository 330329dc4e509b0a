import type { Logger } from 'pino';
import type { SecurityEvent, SecurityEventSink } from '../core/security-events.js';

/**
 * The one sink every use case records security events into: each event is logged at once (so it
 * can be shipped), forwarded to the syslog collector if there is one, and stored centrally in the background; a failed store is itself logged.
 */
export function securityEventSink(
  store: (event: SecurityEvent) => Promise<void>,
  logger: Logger | undefined,
  counted: (event: SecurityEvent) => void = () => {}, // the metrics: by type and outcome
  forward: (event: SecurityEvent) => void = () => {}, // the syslog forwarder (CONFIDE_SYSLOG_URL): never blocks
): SecurityEventSink {
  const storing = new Set<Promise<void>>();
  return {
    record(event) {
      counted(event);
      logger?.info({ securityEvent: event }, `security event ${event.type}`);
      forward(event);
      const pending = store(event)
        .catch((error: unknown) => logger?.error({ err: error, securityEvent: event.type }, 'security event not stored'))
        .finally(() => storing.delete(pending));
      storing.add(pending);
    },
    async flush() {
      await Promise.all([...storing]);
    },
  };
}
