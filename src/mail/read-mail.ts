import PostalMime, { type Address } from 'postal-mime';

/** A message as a person reads it: headers decoded, body as text, the links in it listed. */
export interface ReadableMail {
  from: string;
  /** The recipients as one line (`a@example.com, Bo <b@example.com>`); Confide sends to one. */
  to: string;
  subject: string;
  /** ISO 8601 (UTC) when the Date header parses, else that header as written. */
  date: string;
  text: string;
  /** Every http(s) URL in the text, in order, each once. */
  links: string[];
}

const formatAddress = (address: Address): string =>
  address.group
    ? `${address.name}: ${address.group.map(formatAddress).join(', ')};`
    : address.name
      ? `${address.name} <${address.address}>`
      : address.address;

/**
 * Confide's mail is plain ASCII text whose links stand alone between spaces or line ends, so a
 * URL ends at the first space, angle bracket or quote. No trailing full stop or comma is part
 * of one (Confide's links end in a token, never in punctuation).
 */
const URL_PATTERN = /https?:\/\/[^\s<>"']+/g;
const linksIn = (text: string): string[] => [...new Set((text.match(URL_PATTERN) ?? []).map((url) => url.replace(/[.,;:)]+$/, '')))];

/**
 * Decodes an RFC 5322 message (quoted-printable, encoded words, charsets) with postal-mime,
 * nodemailer's maintainers' dependency-free parser, rather than by hand.
 */
export async function readMail(eml: string): Promise<ReadableMail> {
  const parsed = await PostalMime.parse(eml);
  const text = parsed.text ?? '';
  return {
    from: parsed.from ? formatAddress(parsed.from) : '',
    to: (parsed.to ?? []).map(formatAddress).join(', '),
    subject: parsed.subject ?? '',
    date: parsed.date ?? '',
    text,
    links: linksIn(text),
  };
}
