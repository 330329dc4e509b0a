import type { FastifyInstance } from 'fastify';

/**
 * Route schemas compiled on their first use instead of at start. Compiling every route's
 * validators (Ajv) and serializers (fast-json-stringify) took about 0.4 s of CPU at each start of
 * each listener, most of it for routes a given process never serves (a CLI command opens the
 * services, a node answers mostly a handful of routes). A route's schema is compiled by its first
 * request, once; `compileAll` compiles what is left, which a test does for every route of both
 * listeners, so a schema that does not compile still fails the build and not a user's request.
 */
export class FirstUseCompilation {
  private readonly waiting = new Set<() => void>();

  /** `compile` runs at the first call of the returned function (or at compileAll), once. */
  defer<F extends (...args: never[]) => unknown>(compile: () => F, withErrors = false): F {
    let compiled: F | undefined;
    const now = () => {
      compiled ??= compile();
      this.waiting.delete(now);
      return compiled;
    };
    this.waiting.add(now);
    // Fastify reads a validator's `errors` from the function it was given, after calling it.
    const deferred = ((...args: never[]) => {
      const fn = compiled ?? now();
      const result = fn(...args);
      if (withErrors) (deferred as unknown as { errors: unknown }).errors = (fn as unknown as { errors: unknown }).errors;
      return result;
    }) as F;
    return deferred;
  }

  /** Compiles every schema not yet compiled; throws what the first that fails throws. */
  compileAll(): number {
    const waiting = [...this.waiting];
    for (const compile of waiting) compile();
    return waiting.length;
  }
}

const byServer = new WeakMap<FastifyInstance, FirstUseCompilation>();

export function firstUseCompilation(app: FastifyInstance): FirstUseCompilation {
  let compilation = byServer.get(app);
  if (!compilation) byServer.set(app, (compilation = new FirstUseCompilation()));
  return compilation;
}
