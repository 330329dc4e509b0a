import { loadConfig } from '../config/load-config.js';
import { createApp } from '../app/create-app.js';

/** Runs the listeners until SIGTERM or SIGINT, then drains in-flight requests and closes storage. */
export async function serveCommand(): Promise<void> {
  const config = loadConfig();
  // Only `serve` may set up a new deployment (database and master key) where there is none yet.
  const app = await createApp(config, { createIfMissing: true });
  const { host, port } = config.publicListen;
  // Fastify logs the listening address itself (at info): say it as Confide's own sentence, one log
  // line like every other. People, scripts, the test harness and the bench wait for it, so above
  // info (CONFIDE_LOG_LEVEL=warn) it is still written, at info; only `silent` silences it.
  const listening = (url: string) => `Confide is listening on ${url}`;
  await app.publicServer.listen({ host, port, listenTextResolver: listening });
  const address = app.publicServer.server.address();
  const actualPort = typeof address === 'object' && address ? address.port : port;
  if (!app.logger.isLevelEnabled('info') && config.logLevel !== 'silent') {
    app.logger.child({}, { level: 'info' }).info(listening(`https://${host.includes(':') ? `[${host}]` : host}:${actualPort}`));
  }
  app.logger.info(
    { publicListen: `${host}:${actualPort}`, database: config.database.kind, tlsProfile: config.tls.profile, selfSignedCertificate: app.selfSignedCertificate },
    'confide started',
  );

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.logger.info({ signal }, 'confide stopping');
    const timer = setTimeout(() => process.exit(1), 30_000);
    timer.unref();
    await app.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}
