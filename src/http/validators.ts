import { Ajv, type Options } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifySchemaCompiler, FastifySerializerCompiler } from 'fastify';
import { SerializerSelector } from '@fastify/fast-json-stringify-compiler';
import type { FirstUseCompilation } from './first-use-compilation.js';

/**
 * Two validators: bodies are checked strictly (no type coercion, unknown fields refused, nothing
 * silently removed: ASVS 15.3.3 against mass assignment), while query strings and path
 * parameters, which arrive as text, may be coerced to the declared numbers.
 */
function makeAjv(options: Options): Ajv {
  const ajv = new Ajv({ removeAdditional: false, useDefaults: true, allErrors: false, strict: false, ...options });
  (addFormats as unknown as (ajv: Ajv) => Ajv)(ajv);
  return ajv;
}

const OPTIONAL_BODY = 'x-confide-optional-body';

/**
 * Marks a body schema as optional: a request with no body (or a JSON null) is validated as `{}`.
 * (Fastify would otherwise validate `undefined` against the object schema and refuse it.)
 */
export function optionalBody<T extends object>(schema: T): T {
  return { ...schema, [OPTIONAL_BODY]: true };
}

/** Each schema compiled at its first use (first-use-compilation.ts says why). */
export function validatorCompiler(compilation: FirstUseCompilation): FastifySchemaCompiler<unknown> {
  let ajvs: { strict: Ajv; coercing: Ajv } | undefined;
  const made = () => (ajvs ??= { strict: makeAjv({ coerceTypes: false }), coercing: makeAjv({ coerceTypes: true }) });
  return (route) => compilation.defer(() => compileValidator(made(), route.schema as object, route.httpPart), true);
}

function compileValidator({ strict, coercing }: { strict: Ajv; coercing: Ajv }, schema: object, httpPart: string | undefined) {
  if (httpPart !== 'body') return coercing.compile(schema);
  const validate = strict.compile(schema);
  if (!(schema as Record<string, unknown>)[OPTIONAL_BODY]) return validate;
  const validateOrEmpty = (data: unknown) => {
    // Fastify hands a missing body to the validator as null.
    const valid = validate(data === undefined || data === null ? {} : data);
    validateOrEmpty.errors = validate.errors;
    return valid;
  };
  validateOrEmpty.errors = validate.errors;
  return validateOrEmpty;
}

/**
 * Response serializers as Fastify makes them (fast-json-stringify, through its own compiler
 * package), each compiled at its first use. Confide adds no shared schemas (`addSchema`), so the
 * compiler needs none.
 */
export function serializerCompiler(compilation: FirstUseCompilation): FastifySerializerCompiler<unknown> {
  const compile = SerializerSelector()({}, {});
  return (route) => compilation.defer(() => compile({ ...route, httpStatus: route.httpStatus ?? '' }) as (data: unknown) => string);
}
