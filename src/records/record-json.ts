/** What a record's JSON says besides its data. */
export interface RecordHeader {
  id: string;
  version: number;
  createdAt: string;
  updatedAt: string;
}

/**
 * A record's JSON as the API answers it, with its data spliced in as stored. The stored text was
 * produced by JSON.stringify of a validated object (sealRecordData) and authenticated on
 * decryption, so it is valid JSON as it stands: parsing it only to serialise it again would cost
 * the event loop twice for the same bytes.
 */
export function recordJson(collection: string, record: RecordHeader, dataJson: string, filesJson = '[]'): string {
  return recordJsonPieces(collection, record, dataJson, filesJson).join('');
}

/** The same JSON in three pieces, the data in the middle as it is, so that no copy of it is made to join them. */
/** `filesJson`: the record's files (src/files/), as a JSON array. */
export function recordJsonPieces(collection: string, record: RecordHeader, dataJson: string, filesJson = '[]'): [string, string, string] {
  return [
    `{"id":${JSON.stringify(record.id)},"collection":${JSON.stringify(collection)},"data":`,
    dataJson,
    `,"version":${record.version},"createdAt":${JSON.stringify(record.createdAt)},"updatedAt":${JSON.stringify(record.updatedAt)},"files":${filesJson}}`,
  ];
}

/** The longest header values: a page can be planned from a record's stored length alone. */
const LONGEST_TIME = new Date(8.64e15).toISOString();
const LONGEST_HEADER: RecordHeader = {
  id: '00000000-0000-7000-8000-000000000000', // every id is a UUID: 36 characters
  version: Number.MAX_SAFE_INTEGER,
  createdAt: LONGEST_TIME,
  updatedAt: LONGEST_TIME,
};

/** An upper bound of the bytes of a record's JSON in `collection`, all but its data and files (an empty `files` counted). */
export function recordHeaderBytesAtMost(collection: string): number {
  return Buffer.byteLength(recordJson(collection, LONGEST_HEADER, ''));
}

/**
 * An upper bound of the bytes of a record's data, known without reading or decrypting it. The
 * stored value is `c1.<alg>.<keyVersion>.<base64url(nonce ‖ ciphertext ‖ tag)>`
 * (keys/envelope-format.ts), and under either algorithm (AES-GCM, ChaCha20-Poly1305: both stream
 * ciphers) the ciphertext is as long as the plaintext, so the plaintext has at most 3/4 of the
 * stored length in bytes.
 */
export function plaintextBytesAtMost(sealedBytes: number): number {
  return Math.floor((sealedBytes * 3) / 4);
}
