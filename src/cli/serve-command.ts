import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../config/load-config.js';
import { createApp } from '../app/create-app.js';

const hostPort = (host: string, port: number) => `${host.includes(':') ? `[${host}]` : host}:${port}`;
const url = (host: string, port: number) => `https://${hostPort(host, port)}`;

const LISTEN_ERRORS: Record<string, string> = {
  EADDRINUSE: 'the address is already in use',
  EADDRNOTAVAIL: 'no interface of this host has that address',
  EACCES: 'permission denied (ports below 1024 need privileges)',
};

/**
 * Listens and returns the port actually bound (the configured one, or the OS's pick for port 0).
 * A refused bind names the variable to change: with two listeners, "address in use" alone would
 * not say which one.
 */
async function listen(server: FastifyInstance, variable: string, address: { host: string; port: number }, say: (url: string) => string): Promise<number> {
  try {
    await server.listen({ host: address.host, port: address.port, listenTextResolver: say });
  } catch (error) {
    const why = LISTEN_ERRORS[(error as NodeJS.ErrnoException).code ?? ''];
    if (why === undefined) throw error;
    throw new Error(`cannot listen on ${hostPort(address.host, address.port)} (${variable}): ${why}`, { cause: error });
  }
  const bound = server.server.address();
  return typeof bound === 'object' && bound ? bound.port : address.port;
}

/** Runs the listeners until SIGTERM or SIGINT, then drains in-flight requests and closes storage. */
export async function serveCommand(): Promise<void> {
  const config = loadConfig();
  // Only `serve` may set up a new deployment (database and master key) where there is none yet.
  // The workers start once both listeners listen: start-up never waits behind their first runs
  // (the monitor's access-log self-check, for one), and they begin while the node serves.
  const app = await createApp(config, { createIfMissing: true, startWorkers: false });
  // The admin listener first: the public listener's line below is the one readiness signal, so
  // when it is written both listen (and a busy admin port stops the start before anyone waits).
  const adminPort = await listen(app.adminServer, 'CONFIDE_ADMIN_LISTEN', config.adminListen, (at) => `Confide admin listener is listening on ${at}`);
  const { host } = config.publicListen;
  // Fastify logs the listening address itself (at info): say it as Confide's own sentence, one log
  // line like every other. People, scripts, the test harness and the bench wait for it, so above
  // info (CONFIDE_LOG_LEVEL=warn) it is still written, at info; only `silent` silences it.
  const listening = (at: string) => `Confide is listening on ${at}`;
  const port = await listen(app.publicServer, 'CONFIDE_PUBLIC_LISTEN', config.publicListen, listening);
  if (!app.logger.isLevelEnabled('info') && config.logLevel !== 'silent') {
    app.logger.child({}, { level: 'info' }).info(listening(url(host, port)));
  }
  app.startWorkers();
  app.logger.info(
    {
      publicListen: `${host}:${port}`,
      adminListen: `${config.adminListen.host}:${adminPort}`,
      database: config.database.kind,
      tlsProfile: config.tls.profile,
      selfSignedCertificate: app.selfSignedCertificate,
    },
    'confide started',
  );

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.logger.info({ signal }, 'confide stopping');
    const timer = setTimeout(() => process.exit(1), 30_000);
    timer.unref();
    await app.close(); // closes both listeners, draining each
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}
