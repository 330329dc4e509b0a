import { loadConfig } from '../config/load-config.js';
import { createApp } from '../app/create-app.js';

/** Runs the listeners until SIGTERM or SIGINT, then drains in-flight requests and closes storage. */
export async function serveCommand(): Promise<void> {
  const config = loadConfig();
  const app = await createApp(config);
  const { host, port } = config.publicListen;
  await app.publicServer.listen({ host, port });
  const address = app.publicServer.server.address();
  const actualPort = typeof address === 'object' && address ? address.port : port;
  app.logger.info(
    { publicListen: `${host}:${actualPort}`, database: config.database.kind, tlsProfile: config.tls.profile, selfSignedCertificate: app.selfSignedCertificate },
    'confide started',
  );
  process.stdout.write(`Confide is listening on https://${host.includes(':') ? `[${host}]` : host}:${actualPort}\n`);

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
