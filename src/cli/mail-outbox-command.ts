import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { withServices } from './with-services.js';
import { deploymentId } from '../app/deployment-marker.js';
import type { Cipher } from '../keys/cipher.js';
import { readOutboxFile } from '../mail/outbox-file.js';
import { readMail, type ReadableMail } from '../mail/read-mail.js';

type OutboxMessage = { id: string; eml: string } & ReadableMail;
interface OutboxProblem {
  file: string;
  problem: string;
}

async function readMessage(file: string, cipher: Cipher, deployment: string): Promise<OutboxMessage> {
  const { id, eml } = readOutboxFile(readFileSync(file, 'utf8'), cipher, deployment);
  return { id, eml, ...(await readMail(eml)) };
}

function present(message: OutboxMessage, index: number, total: number): string {
  return [
    `===== message ${index + 1} of ${total} (${message.id})`,
    `From:    ${message.from}`,
    `To:      ${message.to}`,
    `Date:    ${message.date}`,
    `Subject: ${message.subject}`,
    '',
    message.text.trimEnd(),
    '',
  ].join('\n');
}

/**
 * Prints the messages in the (encrypted) outbox folder, oldest first, decrypted and decoded:
 * From, To, Date, Subject and the text, so a token in a link can be copied as it is. With
 * `--json`: `{"messages": [{"id","eml","from","to","subject","date","text","links"}], "problems": [{"file","problem"}]}`.
 * A file that cannot be read (damaged, or another deployment's) never hides the others: each is
 * named on stderr, one line each, after the good ones are printed, and the exit status is then 1,
 * so a newcomer still sees the mail and a script still learns that something is wrong.
 */
export async function mailOutboxCommand(options: { json?: boolean }): Promise<number> {
  return withServices(async (services) => {
    const dir = join(services.config.dataDir, 'outbox');
    const files = existsSync(dir) ? readdirSync(dir).filter((name) => name.endsWith('.eml.enc')).sort() : [];
    const cipher = services.keyRing.systemCipher();
    const deployment = await deploymentId(services.db);
    const messages: OutboxMessage[] = [];
    const problems: OutboxProblem[] = [];
    for (const name of files) {
      const file = join(dir, name);
      try {
        messages.push(await readMessage(file, cipher, deployment));
      } catch (error) {
        problems.push({ file, problem: error instanceof Error ? error.message : String(error) });
      }
    }
    if (options.json) {
      process.stdout.write(`${JSON.stringify({ messages, problems })}\n`);
    } else {
      if (files.length === 0) process.stdout.write(`no messages in ${dir}\n`);
      messages.forEach((message, index) => process.stdout.write(`${present(message, index, messages.length)}\n`));
    }
    for (const { file, problem } of problems) process.stderr.write(`confide: outbox file ${file}: ${problem}\n`);
    return problems.length === 0 ? 0 : 1;
  });
}
