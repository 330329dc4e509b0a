import type { Config } from '../config/config.js';
import { loadConfig } from '../config/load-config.js';
import { openServices } from '../app/open-services.js';
import type { Services } from '../app/services.js';

/** How long a command waits, as it ends, for its security events to reach the syslog collector. */
const SYSLOG_FLUSH_MS = 5_000;

/**
 * Opens the deployment (never creating one), runs `work`, and closes it: the one way every
 * command other than `serve` uses its services. Whatever `work` recorded, it succeeded or not, is
 * stored and forwarded before the command ends: the security events to the database, then to the
 * syslog collector (CONFIDE_SYSLOG_URL), waiting up to 5 s for it; main.ts calls process.exit,
 * which would otherwise drop what is still buffered.
 */
export async function withServices<T>(work: (services: Services) => Promise<T>, config: Readonly<Config> = loadConfig()): Promise<T> {
  const { services, database } = await openServices(config);
  try {
    return await work(services);
  } finally {
    try {
      await services.securityEvents.flush();
      services.securityEvents.close();
      await forwardBuffered(services);
    } finally {
      await database.close();
    }
  }
}

async function forwardBuffered({ syslog, config }: Services): Promise<void> {
  if (!syslog) return;
  const waiting = await syslog.flush(SYSLOG_FLUSH_MS);
  await syslog.stop(1_000);
  if (waiting > 0) {
    const target = config.syslog.target;
    const where = target ? `${target.host}:${target.port}` : 'the collector';
    process.stderr.write(
      `confide: warning: ${waiting} security event${waiting === 1 ? '' : 's'} not forwarded to the syslog collector at ${where} (CONFIDE_SYSLOG_URL) within ${SYSLOG_FLUSH_MS / 1000} s; they are stored in the database\n`,
    );
  }
}
