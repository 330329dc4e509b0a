import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { SendMailOptions, Transporter, TransportOptions } from 'nodemailer';
import type { Cipher } from '../keys/cipher.js';
import { newId } from '../lib/ids.js';
import { isLoopbackHost } from '../lib/loopback.js';
import { writePrivateFile } from '../lib/private-path.js';
import type { MailMessage } from './mail-message.js';
import { sealOutboxFile } from './outbox-file.js';

/**
 * nodemailer, loaded by the first delivery rather than at every start and CLI command (about 20 ms),
 * most of which never send a mail.
 */
const nodemailer = async () => (await import('nodemailer')).default;

/** A transporter made on the first delivery, then kept (with its pooled connections). */
function lazyTransporter(make: (mailer: Awaited<ReturnType<typeof nodemailer>>) => Transporter): { send(mail: SendMailOptions): Promise<{ message?: unknown }>; close(): void } {
  let made: Promise<Transporter> | undefined;
  let transporter: Transporter | undefined;
  return {
    async send(mail) {
      made ??= nodemailer().then((mailer) => (transporter = make(mailer)));
      return (await made).sendMail(mail) as Promise<{ message?: unknown }>;
    },
    close: () => transporter?.close(),
  };
}

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
  const transporter = lazyTransporter((mailer) =>
    mailer.createTransport({
      url: parsed.toString(),
      requireTLS: parsed.protocol === 'smtp:' && !plainAllowed,
      ignoreTLS: plainAllowed,
      connectionTimeout: 10_000,
      greetingTimeout: 10_000,
      socketTimeout: 20_000,
    } as TransportOptions),
  );
  return {
    description: `SMTP ${parsed.hostname}:${parsed.port || (parsed.protocol === 'smtps:' ? 465 : 587)}`,
    async deliver(message) {
      await transporter.send({ from, to: message.to, subject: message.subject, text: message.text });
    },
    close: () => transporter.close(),
  };
}

/**
 * With no SMTP server configured, each message becomes an RFC 5322 `.eml` file in the outbox
 * folder, encrypted under the system key like every other value at rest (the mail holds
 * addresses and account events), its header naming the deployment that wrote it (see
 * outbox-file.ts). `confide mail outbox` decrypts and prints them.
 */
export function outboxFolderTransport(dir: string, from: string, cipher: () => Promise<Cipher>, deploymentId: string): MailTransport {
  const builder = lazyTransporter((mailer) => mailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' }));
  return {
    description: `outbox folder ${dir}`,
    async deliver(message) {
      const built = await builder.send({ from, to: message.to, subject: message.subject, text: message.text });
      const id = newId();
      const eml = (built.message as Buffer).toString('utf8');
      const sealed = sealOutboxFile(id, deploymentId, eml, await cipher());
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      writePrivateFile(join(dir, `${id}.eml.enc`), sealed, 'wx');
    },
    close: () => builder.close(),
  };
}

// The test harness and older callers import the reader from here.
export { readOutboxFile } from './outbox-file.js';
