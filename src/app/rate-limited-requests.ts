import type { FastifyRequest } from 'fastify';
import type { SecurityEventSink } from '../core/security-events.js';
import { clientSource, ipv6Network48 } from '../lib/client-source.js';
import type { Clock } from '../lib/time.js';

/** At most one `request.rateLimited` event per source this often: a flood must not become a flood of events. */
const EVENT_INTERVAL_MS = 60_000;
/** Sources remembered at once; beyond it the longest-quiet are forgotten (they may then be recorded a little sooner). */
const TRACKED_SOURCES = 10_000;

interface SourceTally {
  lastEventAt: number;
  /** 429s answered to this source since its last event. */
  limitedSince: number;
}

/**
 * The listeners' `onRateLimited`: a source (IPv4 address or IPv6 /64, as the throttles count
 * them; the IPv6 /48 when that aggregate refused it) being answered 429 becomes a `request.rateLimited` security event at its first 429 and then
 * at most once a minute while it lasts, with how many 429s it got since the last one (`count`).
 * The monitor's "sustained rate limiting of one source" rule counts these events by source.
 */
export function recordRateLimiting(securityEvents: SecurityEventSink, clock: Clock) {
  const sources = new Map<string, SourceTally>();
  return (request: FastifyRequest, limit: string, listener: string): void => {
    // Refused for its /48 (the per-network aggregate), a client is tallied as that /48: otherwise
    // each of its 65,536 /64s would be a new source, and each refused request a new event.
    const source = (limit === 'ipv6Network' ? ipv6Network48(request.ip) : null) ?? clientSource(request.ip);
    const now = clock.now().getTime();
    const tally = sources.get(source) ?? { lastEventAt: -Infinity, limitedSince: 0 };
    tally.limitedSince += 1;
    sources.set(source, tally);
    if (now - tally.lastEventAt < EVENT_INTERVAL_MS) return;
    securityEvents.record({ type: 'request.rateLimited', outcome: 'refused', ip: request.ip, details: { listener, limit, count: tally.limitedSince } });
    // Re-inserted, so the map's order is by last event: the first entries are the longest quiet.
    sources.delete(source);
    sources.set(source, { lastEventAt: now, limitedSince: 0 });
    for (const [oldest] of sources) {
      if (sources.size <= TRACKED_SOURCES) break;
      sources.delete(oldest);
    }
  };
}
