import { randomFillSync } from 'node:crypto';

/**
 * Fresh random nonces for the AEADs (aes-gcm.ts, chacha20-poly1305.ts), cut from blocks of CSPRNG
 * output drawn 4 KiB at a time. Every stored value needs one, and each randomBytes call crosses
 * into C++ (about 2 µs alone, more on a busy server): a block makes that one crossing per 341
 * nonces. The bytes are the same CSPRNG's and each is handed out once; a block is replaced, never
 * refilled in place, so a nonce already given keeps its value for as long as its holder keeps it.
 */
const BLOCK_BYTES = 4096;

let block = Buffer.alloc(0);
let offset = 0;

export function randomNonce(bytes: number): Buffer {
  if (!Number.isInteger(bytes) || bytes < 1 || bytes > BLOCK_BYTES) throw new Error(`a nonce is 1 to ${BLOCK_BYTES} bytes`);
  if (offset + bytes > block.length) {
    block = randomFillSync(Buffer.allocUnsafeSlow(BLOCK_BYTES));
    offset = 0;
  }
  const nonce = block.subarray(offset, offset + bytes);
  offset += bytes;
  return nonce;
}
