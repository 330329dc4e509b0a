import type { SecurityEvent } from '../core/security-events.js';

/** RFC 5424 facility 10, authpriv: security and authorisation messages that collectors keep private. */
const AUTHPRIV = 10;
const SEVERITY = { info: 6, warning: 4 } as const;
/** RFC 5424 6.2: HOSTNAME, APP-NAME and MSGID are printable US-ASCII without spaces, of bounded length. */
const printable = (text: string, max: number) => text.replace(/[^\x21-\x7e]/g, '_').slice(0, max) || '-';

/**
 * One security event as an RFC 5424 syslog message: `<PRI>1 TIMESTAMP HOST confide PID TYPE - MSG`,
 * facility authpriv, severity info for a success and warning otherwise, MSGID the event type, no
 * structured data, and MSG the event as one JSON object. The JSON is kept to ASCII (other
 * characters \u-escaped) so MSG needs no BOM and survives any collector's charset handling.
 * Hand-written (25 lines) because the npm clients (syslog-client, rsyslog) bring their own
 * sockets without octet counting or a bounded buffer, which is the part that matters here.
 */
export function syslogMessage(event: SecurityEvent, at: Date, hostname: string, pid: number): string {
  const severity = event.outcome === 'success' ? SEVERITY.info : SEVERITY.warning;
  const actor = event.actor ?? (event.userId ? { type: 'member', id: event.userId } : null);
  const body = {
    at: at.toISOString(),
    type: event.type,
    outcome: event.outcome,
    actor,
    ...(event.userId ? { userId: event.userId } : {}),
    tenant: event.tenantId ?? null,
    ip: event.ip ?? null,
    ...(event.details ? { details: event.details } : {}),
  };
  const json = JSON.stringify(body).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return `<${AUTHPRIV * 8 + severity}>1 ${at.toISOString()} ${printable(hostname, 255)} confide ${pid} ${printable(event.type, 32)} - ${json}`;
}

/** RFC 6587 3.4.1 octet counting: the message's length in bytes, a space, the message; no delimiter to escape. */
export function octetCounted(message: string): Buffer {
  const bytes = Buffer.from(message, 'utf8');
  return Buffer.concat([Buffer.from(`${bytes.length} `, 'ascii'), bytes]);
}
