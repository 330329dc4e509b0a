import { Socket } from 'node:net';
import type { FastifyInstance, FastifyRequest } from 'fastify';

/** Route config of the routes whose body is a streamed file: governed by progress, not a total time. */
export interface StreamingUploadConfig {
  streamingUpload?: boolean;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    streamingUpload?: boolean;
  }
}

export interface BodyDeadlines {
  /** Every other request must have arrived whole (headers and body) this long after it began. */
  requestTimeoutMs: number;
  /** A streamed upload is cut when it brings fewer than UPLOAD_PROGRESS_BYTES in this long. */
  uploadStallMs: number;
}

/**
 * The least progress of a streamed upload per stall window: one chunk of the file cipher's size.
 * At the default 30 s window that is about 2 KiB/s, far below any real link, yet a client that
 * trickles a byte at a time to hold a connection for hours is cut like one that stopped.
 */
export const UPLOAD_PROGRESS_BYTES = 64 * 1024;

/**
 * Bounds the time a client may take to send its request, in place of Node's one fixed
 * `requestTimeout` (which is off on the listeners, as it would cut a large upload on a slow link
 * after 30 s). The header timeout stays Node's. A request that runs out of time is refused as
 * Node refuses one (408 in the contract's shape if no answer has begun, then the connection is
 * closed): through the listener's `clientError` handler.
 *
 * Ordinary requests keep the total bound. Routes marked `streamingUpload` are checked every
 * second for progress instead: bytes read from the connection, or bytes waiting in the request
 * for Confide to take (then the slow side is Confide's, e.g. its blob store, not the client).
 */
export function addBodyDeadlines(app: FastifyInstance, deadlines: BodyDeadlines): void {
  app.addHook('onRequest', (request, reply, done) => {
    const socket = request.raw.socket as Socket | null;
    // Only a real connection can be held: an in-process `inject()` request has a stand-in socket.
    if (!(socket instanceof Socket)) return done();
    // Most requests (a GET, a small JSON body) have arrived whole by now, and one that declares no
    // body (neither Content-Length nor Transfer-Encoding: HTTP/1.1 then has none) has nothing to
    // wait for even if Node has not yet marked it complete: nothing left to bound.
    if (request.raw.complete || !hasBody(request)) return done();
    const streaming = request.routeOptions.config?.streamingUpload === true;
    const refuse = () => timedOut(app, socket, reply.raw.headersSent);
    let timer = streaming ? watchProgress(request, socket, deadlines.uploadStallMs, refuse) : totalDeadline(request, deadlines.requestTimeoutMs, refuse);
    // The deadline ends with the body, not with the answer. A request answered before its body
    // was read (a 404, an early 401 or 403, a 413 on its declared length) keeps the connection
    // while Node reads and drops the rest of it; keep-alive limits apply only after that, so a
    // client trickling that body could hold the connection for ever. Node's own requestTimeout
    // ran until the body was whole for the same reason.
    const stop = () => {
      clearTimeout(timer);
      socket.off('close', stop); // a keep-alive connection carries many requests: no listener piles up
    };
    request.raw.once('end', stop);
    socket.once('close', stop);
    reply.raw.once('finish', () => {
      // A body that is whole by the answer ends the deadline here, without waiting for Node to dump it.
      if (request.raw.complete) return stop();
      if (!streaming) return;
      // An upload refused before its end: what still comes is dropped, so progress no longer
      // earns more time; the rest must arrive within the total bound, from the answer on.
      clearTimeout(timer);
      timer = totalDeadline(request, deadlines.requestTimeoutMs, refuse);
    });
    done();
  });
}

function totalDeadline(request: FastifyRequest, timeoutMs: number, refuse: () => void): NodeJS.Timeout {
  const timer = setTimeout(() => {
    if (!request.raw.complete) refuse();
  }, timeoutMs);
  timer.unref();
  return timer;
}

function watchProgress(request: FastifyRequest, socket: Socket, stallMs: number, refuse: () => void): NodeJS.Timeout {
  let windowStart = Date.now();
  let readAtStart = socket.bytesRead;
  const check = () => {
    if (request.raw.complete) return;
    const now = Date.now();
    // Bytes the client sent that Confide has not taken yet: the wait is Confide's, not the client's.
    if (request.raw.readableLength > 0) {
      windowStart = now;
      readAtStart = socket.bytesRead;
    } else if (socket.bytesRead - readAtStart >= UPLOAD_PROGRESS_BYTES) {
      windowStart = now;
      readAtStart = socket.bytesRead;
    } else if (now - windowStart >= stallMs) {
      return refuse();
    }
    timer.refresh();
  };
  const timer = setTimeout(check, Math.min(1_000, stallMs));
  timer.unref();
  return timer;
}

/**
 * As Node's own request timeout: the listener's clientError handler answers 408 (if it can) and
 * closes. Once an answer has gone out on the connection there is nothing more to say: it is closed.
 */
function timedOut(app: FastifyInstance, socket: Socket, answered: boolean): void {
  if (socket.destroyed) return;
  if (answered) return void socket.destroy();
  const error = Object.assign(new Error('request timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' });
  if (!app.server.emit('clientError', error, socket)) socket.destroy();
}

/** RFC 9112 §6.3: a request has a body only if it says so with Content-Length (above 0) or Transfer-Encoding. */
function hasBody(request: FastifyRequest): boolean {
  const { headers } = request.raw;
  return headers['transfer-encoding'] !== undefined || (headers['content-length'] !== undefined && headers['content-length'] !== '0');
}
