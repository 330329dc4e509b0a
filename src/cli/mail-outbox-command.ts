import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../config/load-config.js';
import { openServices } from '../app/create-app.js';
import { readOutboxFile } from '../mail/mail-transport.js';

/** Prints the messages in the (encrypted) outbox folder, oldest first, decrypted. */
export async function mailOutboxCommand(options: { json?: boolean }): Promise<void> {
  const config = loadConfig();
  const { services, database } = await openServices(config);
  try {
    const dir = join(config.dataDir, 'outbox');
    const files = existsSync(dir) ? readdirSync(dir).filter((name) => name.endsWith('.eml.enc')).sort() : [];
    const cipher = services.keyRing.systemCipher();
    const messages = files.map((name) => readOutboxFile(readFileSync(join(dir, name), 'utf8'), cipher));
    if (options.json) {
      process.stdout.write(`${JSON.stringify({ messages })}\n`);
      return;
    }
    if (messages.length === 0) process.stdout.write(`no messages in ${dir}\n`);
    for (const message of messages) process.stdout.write(`===== ${message.id}\n${message.eml}\n`);
  } finally {
    await database.close();
  }
}
