import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { verifyExport, type ExportVerification } from '../audit/verify-export.js';
import { ed25519KeyId, parseEd25519PublicKeys } from '../lib/ed25519.js';

export interface AuditVerifyExportOptions {
  publicKey: string[];
  json?: boolean;
}

/** Exit status when the file or a key cannot be read: distinct from 1, an export that does not verify. */
const UNREADABLE = 2;

/**
 * Verifies an export offline (verifyExport): it reads no configuration, opens no database and
 * needs no master key, only the signing public keys, each given as text or as a file holding it.
 */
export async function auditVerifyExportCommand(file: string, options: AuditVerifyExportOptions): Promise<number> {
  let keys: Map<string, Buffer>;
  try {
    keys = readPublicKeys(options.publicKey);
    if (!existsSync(file) || !statSync(file).isFile()) throw new Error(`no export file ${file}`);
  } catch (error) {
    process.stderr.write(`confide: ${(error as Error).message}\n`);
    return UNREADABLE;
  }
  const lines = createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity });
  const result = await verifyExport(lines, keys);
  process.stdout.write(options.json ? `${JSON.stringify(result)}\n` : present(file, result));
  return result.ok ? 0 : 1;
}

function readPublicKeys(given: string[]): Map<string, Buffer> {
  const keys = new Map<string, Buffer>();
  for (const value of given) {
    const isFile = !value.includes('-----BEGIN') && existsSync(value);
    try {
      for (const key of parseEd25519PublicKeys(isFile ? readFileSync(value, 'utf8') : value)) keys.set(ed25519KeyId(key), key);
    } catch {
      throw new Error(`--public-key ${isFile ? value : '(text)'}: not an Ed25519 public key (PEM, or base64 of the raw key)`);
    }
  }
  return keys;
}

function present(file: string, result: ExportVerification): string {
  if (!result.ok) return `${file}: does NOT verify: line ${result.problem!.line}: ${result.problem!.message}\n`;
  const signed = result.signedUpTo!;
  return `${file}: verifies: tenant ${result.tenantId}, ${result.entries} entries, ${result.checkpoints} checkpoints; signed up to entry ${signed.seq} at ${signed.at} by key ${signed.keyId}\n`;
}
