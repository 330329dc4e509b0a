import pino, { type DestinationStream, type Logger } from 'pino';
import { createRequire } from 'node:module';
import type PinoPretty from 'pino-pretty';
import type { LogFormat, LogLevel } from '../config/config.js';

/**
 * Structured JSON logs in UTC. Credentials never reach them: request bodies are not logged,
 * and these paths are censored wherever they appear (ASVS 16.2.5).
 */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  '*.password',
  '*.token',
  '*.key',
];

/**
 * JSON lines for machines; with `pretty` (or `auto` on a terminal) one readable line per entry
 * for people. Redaction happens before formatting, so both formats censor the same paths.
 * `auto` looks at stdout only when no destination is given: a given stream is never a terminal.
 */
export function createLogger(level: LogLevel, destination?: DestinationStream, format: LogFormat = 'json'): Logger {
  const pretty = format === 'pretty' || (format === 'auto' && destination === undefined && process.stdout.isTTY === true);
  return pino(
    {
      level,
      base: { service: 'confide' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    },
    pretty ? prettyStream(destination) : destination,
  );
}

// pino-pretty is loaded only for the readable format: JSON lines (a service under a supervisor,
// every test) never need it, and loading it costs a start about 40 ms. Synchronous, as the logger is.
const requireModule = createRequire(import.meta.url);

/** pino-pretty as an in-process stream (no worker thread), so lines written just before exit are not lost. */
function prettyStream(destination?: DestinationStream): DestinationStream {
  const pinoPretty = requireModule('pino-pretty') as typeof PinoPretty;
  return pinoPretty({
    destination: destination ?? 1,
    sync: true,
    colorize: destination === undefined && process.stdout.isTTY === true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'service,pid,hostname',
    singleLine: true,
  });
}
