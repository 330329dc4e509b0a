import type { AccessJustification } from '../db/staff-schema.js';
import { AppError } from '../lib/app-error.js';
import { STAFF_ACCESS_MAX_MINUTES } from '../tenants/tenant-settings.js';

/** Break-glass skips the tenant's approval, so only an emergency justifies it. */
export const BREAK_GLASS_JUSTIFICATIONS: readonly AccessJustification[] = ['INCIDENT_RESPONSE', 'SECURITY_INVESTIGATION'];

export const REASON_MIN_LENGTH = 20;
export const REASON_MAX_LENGTH = 1000;
export const TICKET_MAX_LENGTH = 200;
export const NOTES_MAX_LENGTH = 2000;

/**
 * Bounds that keep one staff member from piling up rows or holding many doors open at once:
 * at most this many pending requests across all tenants, and at most one open (pending or
 * active) request per tenant. A pending request nobody answers lapses (shown `expired`) after
 * PENDING_REQUEST_HOURS, so an unanswered tenant never blocks its next request for long.
 */
export const MAX_PENDING_REQUESTS_PER_STAFF = 20;
export const PENDING_REQUEST_HOURS = 72;

/** Control and format characters (CR/LF could forge mail lines, U+202E could disguise text). */
const UNPRINTABLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;
/** The same, but a paragraph may hold line breaks. */
const hasUnprintableBesidesNewlines = (text: string) => UNPRINTABLE.test(text.replace(/\r?\n/g, ''));

function invalid(field: string, reason: string, message: string, extra: Record<string, unknown> = {}): AppError {
  return new AppError('VALIDATION_FAILED', { message, details: { field, reason, ...extra } });
}

/**
 * Whether a reason reads as words rather than filler: at least three distinct letters and three
 * distinct words of two letters or more. "aaaaaaaaaaaaaaaaaaaaa", "!!!!!!!!!!!!!!!!!!!!!",
 * "12345678901234567890" and "asdfasdfasdfasdfasdf" all fail; "Customer cannot export ticket
 * data since Monday" passes. It cannot prove a reason honest — the tenant reads it for that.
 */
export function isMeaningfulText(text: string): boolean {
  const lower = text.toLowerCase();
  const letters = new Set(lower.match(/\p{L}/gu) ?? []);
  const words = new Set(lower.match(/\p{L}{2,}/gu) ?? []);
  return letters.size >= 3 && words.size >= 3;
}

/** The reason a staff member gives, trimmed: at least 20 characters of real words, no control characters. */
export function checkReason(raw: string): string {
  const reason = raw.trim();
  // Newlines are allowed (a reason may be a short paragraph); other control and format characters are not.
  if (hasUnprintableBesidesNewlines(reason)) throw invalid('reason', 'control_characters', 'The reason contains control characters.');
  if ([...reason].length < REASON_MIN_LENGTH) {
    throw invalid('reason', 'too_short', `The reason must be at least ${REASON_MIN_LENGTH} characters.`, { minimum: REASON_MIN_LENGTH });
  }
  if (!isMeaningfulText(reason)) {
    throw invalid('reason', 'not_meaningful', 'The reason must say in words why access is needed (not repeated characters, digits or punctuation).');
  }
  return reason;
}

/** A ticket reference: optional, one printable line (it is shown in e-mails). */
export function checkTicket(raw: string | undefined): string | null {
  if (raw === undefined) return null;
  const ticket = raw.trim();
  if (ticket.length === 0) return null;
  if (UNPRINTABLE.test(ticket)) throw invalid('ticket', 'control_characters', 'The ticket contains control characters.');
  return ticket;
}

/** Free text a person adds to a decision or review (notes, a denial's reason): trimmed, printable. */
export function checkNote(raw: string | undefined, field: string): string | null {
  if (raw === undefined) return null;
  const note = raw.trim();
  if (note.length === 0) return null;
  if (hasUnprintableBesidesNewlines(note)) throw invalid(field, 'control_characters', `The ${field} contains control characters.`);
  return note;
}

/** The duration asked for must fit the tenant's maximum, itself never above the hard 480 minutes. */
export function checkDuration(minutes: number, tenantMaxMinutes: number): void {
  const maximum = Math.min(tenantMaxMinutes, STAFF_ACCESS_MAX_MINUTES.max);
  if (!Number.isInteger(minutes) || minutes < STAFF_ACCESS_MAX_MINUTES.min || minutes > maximum) {
    throw invalid('durationMinutes', 'over_tenant_maximum', `This tenant accepts grants of at most ${maximum} minutes.`, { maximum });
  }
}

export function checkBreakGlass(breakGlass: boolean, justification: AccessJustification): void {
  if (breakGlass && !BREAK_GLASS_JUSTIFICATIONS.includes(justification)) {
    throw invalid('breakGlass', 'justification_not_allowed', `Break-glass needs the justification ${BREAK_GLASS_JUSTIFICATIONS.join(' or ')}.`, {
      allowed: BREAK_GLASS_JUSTIFICATIONS,
    });
  }
}
