import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyBaseLogger } from 'fastify';
import { AppError } from '../lib/app-error.js';
import { newId } from '../lib/ids.js';
import { securityHeaders } from './security-headers.js';

type ConnectionError = Error & { code?: string };

/** Node's codes for what goes wrong before a request exists: a parse error (HPE_*), or the header/request timeout. */
function appErrorFor(code: string | undefined): AppError {
  if (code === 'HPE_HEADER_OVERFLOW') return new AppError('HEADERS_TOO_LARGE');
  if (code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW') return new AppError('PAYLOAD_TOO_LARGE');
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return new AppError('REQUEST_TIMEOUT');
  return new AppError('BAD_REQUEST');
}

/**
 * Answers what Node's HTTP parser refuses before Fastify sees a request (malformed request line
 * or header, headers over 16 KiB, headers or body too slow) in the contract's shape, with the
 * security headers every other answer carries, and closes the connection. Nothing of the request
 * is echoed, and only Node's error code is logged: the raw packet may hold credentials.
 */
export function clientErrorHandler(logger: FastifyBaseLogger): (error: ConnectionError, socket: Socket) => void {
  return (error, socket) => {
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    const appError = appErrorFor(error.code);
    const requestId = newId();
    logger.info({ reqId: requestId, code: appError.code, cause: error.code }, 'refused before routing');
    // As Node does: answer only if no response has begun on this connection, or the bytes would corrupt it.
    const inFlight = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
    if (socket.writable && !inFlight?.headersSent) socket.write(rawErrorResponse(appError, requestId));
    socket.destroy();
  };
}

function rawErrorResponse(error: AppError, requestId: string): string {
  const body = JSON.stringify({ error: { code: error.code, message: error.message, requestId } });
  const headers: Record<string, string> = {
    ...securityHeaders(),
    'cache-control': 'no-store',
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
    'x-request-id': requestId,
    date: new Date().toUTCString(),
    connection: 'close',
  };
  const head = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join('');
  return `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status]}\r\n${head}\r\n${body}`;
}
