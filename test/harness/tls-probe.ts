import { connect, type ConnectionOptions, type SecureVersion } from 'node:tls';

export interface Handshake {
  ok: boolean;
  protocol?: string | null;
  cipher?: string;
  /** The key-exchange group, e.g. X25519. */
  group?: string;
  error?: string;
}

/** Attempts one TLS handshake with exactly the given client offer. */
export function handshake(port: number, options: Omit<ConnectionOptions, 'port' | 'host'> & { minVersion?: SecureVersion; maxVersion?: SecureVersion }): Promise<Handshake> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false, ...options });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ ok: false, error: 'timeout' });
    }, 5000);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const result = { ok: true, protocol: socket.getProtocol(), cipher: socket.getCipher().standardName, group: (socket.getEphemeralKeyInfo() as { name?: string }).name };
      socket.end();
      resolve(result);
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      resolve({ ok: false, error: error.message });
    });
  });
}
