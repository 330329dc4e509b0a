import { describe, expect, it } from 'vitest';
import { decodeValue, encodeValue, rowLineJson, TableChecksum } from './dump-format.js';

describe('dump values (src/backup/dump-format.ts)', () => {
  it('spells an integer the same whichever driver gave it: number, bigint or int8 text', () => {
    expect(encodeValue(42, true)).toBe(42);
    expect(encodeValue(42n, true)).toBe(42);
    expect(encodeValue('42', true)).toBe(42);
    expect(encodeValue('42', false)).toBe('42'); // a text column keeps its text
    expect(encodeValue(2n ** 60n, true)).toEqual({ int: '1152921504606846976' });
    expect(encodeValue('1152921504606846976', true)).toEqual({ int: '1152921504606846976' });
    expect(encodeValue(true, false)).toBe(1);
    expect(encodeValue(null, true)).toBeNull();
    expect(encodeValue(Buffer.from([0, 255]), false)).toEqual({ b64: 'AP8=' });
    expect(() => encodeValue(1.5, false)).toThrow(/non-integer/);
  });

  it('gives each driver back what it binds: bigint for SQLite, text for PostgreSQL, bytes as a Buffer', () => {
    expect(decodeValue({ int: '1152921504606846976' }, 'sqlite')).toBe(2n ** 60n);
    expect(decodeValue({ int: '1152921504606846976' }, 'postgres')).toBe('1152921504606846976');
    expect(decodeValue({ b64: 'AP8=' }, 'postgres')).toEqual(Buffer.from([0, 255]));
    expect(() => decodeValue({ int: '12; drop table x' }, 'postgres')).toThrow(/not an integer/);
  });

  it('checksums the canonical row lines, each followed by a newline', () => {
    const checksum = new TableChecksum();
    checksum.add(['b', 1, null]);
    expect(rowLineJson(['b', 1, null])).toBe('{"t":"row","v":["b",1,null]}');
    expect(checksum.rows).toBe(1);
    // sha256 of '{"t":"row","v":["b",1,null]}\n', computed apart from the code
    expect(checksum.digest()).toBe('247b86dc140bb5736a59335ed1d7b38ef2cc6f2c7851326c856335447704f581');
  });
});
