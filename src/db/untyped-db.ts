import type { Kysely } from 'kysely';

/**
 * The database for code that is generic over table and column names another list vouches for,
 * not the compiler: the re-encryption walk and the crypto inventory over the encrypted-field
 * registry (src/keys/encrypted-fields.ts), the delivery queue over its two queue tables. The one
 * place an untyped Kysely is allowed; everything else uses Kysely<DB>.
 */
export type UntypedDb = Kysely<any>; // eslint-disable-line @typescript-eslint/no-explicit-any
