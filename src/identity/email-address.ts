/**
 * E-mail addresses are compared case-insensitively after trimming; this is the form that is
 * blind-indexed. The check is deliberately loose (RFC 5321 lengths, one @, no spaces): the
 * real proof of an address is a message that reaches it.
 */
export function normaliseEmail(raw: string): string {
  return raw.trim().toLowerCase();
}

export function isPlausibleEmail(email: string): boolean {
  if (email.length > 254) return false;
  const at = email.lastIndexOf('@');
  if (at < 1 || at > 64 || at === email.length - 1) return false;
  return /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email);
}
