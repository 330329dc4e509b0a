import canonicalizeModule from 'canonicalize';

// The package is CommonJS with an ESM-style default in its types; take the function either way.
const canonicalize = ((canonicalizeModule as unknown as { default?: unknown }).default ?? canonicalizeModule) as (
  input: unknown,
) => string | undefined;

/**
 * The JSON Canonicalization Scheme (RFC 8785): one byte sequence per value, so a hash
 * over it is stable across processes, dialects and library versions.
 */
export function canonicalJson(value: unknown): string {
  const text = canonicalize(value);
  if (text === undefined) throw new Error('value cannot be canonicalised');
  return text;
}
