import { open } from 'node:fs/promises';

/** A rename or an unlink is durable only once its folder is flushed (POSIX): the async form, for stores that serve requests. */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
