/**
 * Fixed limits of the HTTP edge (documented in docs/configuration.md; not configurable, because
 * no legitimate client comes near them and each one bounds what a hostile client can hold).
 */

/** Objects and arrays nested deeper than this are refused before any work: deep structures
 * overflow the stack of recursive code further in (`JSON.stringify`, encryption, validation). */
export const MAX_JSON_DEPTH = 64;

/** Path plus query, in characters. Node itself refuses a request line plus headers over 16 KiB
 * (431); this keeps the URL to half of that, so a long URL is answered 414 and not 431. */
export const MAX_URL_LENGTH = 8_192;

/** A client that opens a connection but does not finish the TLS handshake is dropped after this
 * long (Node's default is 120 s, which lets idle sockets pile up). */
export const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;
