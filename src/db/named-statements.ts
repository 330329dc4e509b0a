import type pg from 'pg';
import { sha256Hex } from '../lib/sha256.js';

/** How many statements one connection keeps prepared: Confide's hot path uses a few dozen. */
export const NAMED_STATEMENTS_PER_CONNECTION = 256;

/**
 * Makes a connection prepare each parameterised statement once, under a name derived from its text,
 * and run it by that name afterwards. node-postgres sends an unnamed statement, which PostgreSQL
 * parses and plans again on every execution; Kysely gives no way to name one. With the chain head
 * locked from its `FOR UPDATE` to the commit, that parsing is time a tenant's next request waits:
 * measured at 32 connections, one tenant, 38% more creates and 67% more reads a second
 * (bench/README.md).
 *
 * Named:
 * - only statements with parameters. Those go through the extended protocol anyway, which allows
 *   one statement per text; a text without parameters (a migration, `begin`) may hold several and
 *   stays on the simple protocol, unnamed.
 * - no statement with a `*` in its text. A prepared `select *` fails with "cached plan must not
 *   change result type" once another node's migration adds a column. Named columns do not change.
 * - up to NAMED_STATEMENTS_PER_CONNECTION distinct texts per connection. Each holds a plan on the
 *   server for as long as the connection lives; texts past the bound (lists of varying length) run
 *   unnamed.
 */
export function nameStatements(client: pg.Client): void {
  const unnamed = client.query.bind(client) as (...args: unknown[]) => unknown;
  // Each text's name, hashed once: the texts run again on every request.
  const names = new Map<string, string>();
  const query = (...args: unknown[]): unknown => {
    const [text, values, callback] = args;
    if (typeof text !== 'string' || !Array.isArray(values) || values.length === 0 || text.includes('*')) return unnamed(...args);
    let name = names.get(text);
    if (name === undefined) {
      if (names.size >= NAMED_STATEMENTS_PER_CONNECTION) return unnamed(...args);
      name = `confide_${sha256Hex(text).slice(0, 40)}`;
      names.set(text, name);
    }
    return unnamed({ name, text, values }, callback);
  };
  client.query = query as typeof client.query;
}
