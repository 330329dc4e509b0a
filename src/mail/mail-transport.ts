import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import type { Cipher } from '../keys/cipher.js';
import { newId } from '../lib/ids.js';
import { isLoopbackHost } from '../lib/loopback.js';
import { writePrivateFile } from '../lib/private-path.js';
import type { MailMessage } from './mail-message.js';

/** Where queued mail goes: an SMTP server, or the encrypted outbox folder. */
export interface MailTransport {
  readonly description: string;
  deliver(message: MailMessage): Promise<void>;
  close(): void;
}

/**
 * SMTP through nodemailer. TLS is required (smtps://, or STARTTLS on smtp://) unless the server
 * is on loopback and the URL says `?tls=off`.
 */
export function smtpTransport(url: string, from: string): MailTransport {
  const parsed = new URL(url);
  const plainAllowed = parsed.searchParams.get('tls') === 'off' && isLoopbackHost(parsed.hostname);
  parsed.searchParams.delete('tls');
  const transporter = nodemailer.createTransport({
    url: parsed.toString(),
    requireTLS: parsed.protocol === 'smtp:' && !plainAllowed,
    ignoreTLS: plainAllowed,
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 20_000,
  } as nodemailer.TransportOptions);
  return {
    description: `SMTP ${parsed.hostname}:${parsed.port || (parsed.protocol === 'smtps:' ? 465 : 587)}`,
    async deliver(message) {
      await transporter.sendMail({ from, to: message.to, subject: message.subject, text: message.text });
    },
    close: () => transporter.close(),
  };
}

export const OUTBOX_FORMAT = 'confide-outbox-v1';

/**
 * With no SMTP server configured, each message becomes an RFC 5322 `.eml` file in the outbox
 * folder, encrypted under the system key like every other value at rest (the mail holds
 * addresses and account events). `confide mail outbox` decrypts and prints them.
 */
export function outboxFolderTransport(dir: string, from: string, cipher: () => Promise<Cipher>): MailTransport {
  const builder = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
  return {
    description: `outbox folder ${dir}`,
    async deliver(message) {
      const built = await builder.sendMail({ from, to: message.to, subject: message.subject, text: message.text });
      const id = newId();
      const eml = (built.message as Buffer).toString('utf8');
      const sealed = (await cipher()).encrypt(eml, { table: 'outbox', rowId: id, field: 'eml' });
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      writePrivateFile(join(dir, `${id}.eml.enc`), `${OUTBOX_FORMAT}\n${id}\n${sealed}\n`, 'wx');
    },
    close: () => undefined,
  };
}

export function readOutboxFile(content: string, cipher: Cipher): { id: string; eml: string } {
  const [format, id, sealed] = content.trim().split('\n');
  if (format !== OUTBOX_FORMAT || !id || !sealed) throw new Error('not a Confide outbox file');
  return { id, eml: cipher.decrypt(sealed, { table: 'outbox', rowId: id, field: 'eml' }) };
}
