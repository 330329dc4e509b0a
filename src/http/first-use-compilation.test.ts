import { describe, expect, it } from 'vitest';
import { createTestApp } from '../../test/harness/test-app.js';
import { firstUseCompilation, FirstUseCompilation } from './first-use-compilation.js';

describe('route schemas compiled on first use', () => {
  it('compiles once, at the first call, and passes a validator’s errors on', () => {
    const compilation = new FirstUseCompilation();
    let compiled = 0;
    const validate = compilation.defer(() => {
      compiled += 1;
      const inner = (data: unknown) => {
        inner.errors = data === 1 ? null : [{ message: 'not one' }];
        return data === 1;
      };
      inner.errors = null as unknown;
      return inner;
    }, true);
    expect(compiled).toBe(0);
    expect(validate(2)).toBe(false);
    expect((validate as unknown as { errors: unknown }).errors).toEqual([{ message: 'not one' }]);
    expect(validate(1)).toBe(true);
    expect(compiled).toBe(1);
    expect(compilation.compileAll()).toBe(0); // nothing left waiting
  });

  it('reports a schema that does not compile when everything is compiled', () => {
    const compilation = new FirstUseCompilation();
    compilation.defer(() => {
      throw new Error('schema is invalid: data/type must be equal to one of the allowed values');
    });
    expect(() => compilation.compileAll()).toThrow(/schema is invalid/);
  });

  // With compilation deferred, a schema that cannot compile would fail a user's first request
  // instead of the start: this compiles every route's validators and serializers on both listeners.
  it('every route of both listeners compiles', async () => {
    const t = await createTestApp('sqlite');
    try {
      for (const server of [t.app.publicServer, t.app.adminServer]) {
        const compiled = firstUseCompilation(server).compileAll();
        expect(compiled).toBeGreaterThan(50);
      }
      // And what was compiled still serves (a validator and a serializer on the public listener).
      const refused = await t.request({ method: 'POST', url: '/v1/signup', payload: { organization: 'x' } });
      expect(refused.statusCode).toBe(400);
      expect((await t.request({ method: 'GET', url: '/healthz' })).json()).toEqual({ status: 'ok' });
    } finally {
      await t.close();
    }
  });
});
