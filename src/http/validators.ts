import { Ajv, type Options } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';

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

export function validatorCompiler(): FastifySchemaCompiler<unknown> {
  const strict = makeAjv({ coerceTypes: false });
  const coercing = makeAjv({ coerceTypes: true });
  return ({ schema, httpPart }) => {
    if (httpPart !== 'body') return coercing.compile(schema as object);
    const validate = strict.compile(schema as object);
    if (!(schema as Record<string, unknown>)[OPTIONAL_BODY]) return validate;
    const validateOrEmpty = (data: unknown) => {
      // Fastify hands a missing body to the validator as null.
      const valid = validate(data === undefined || data === null ? {} : data);
      validateOrEmpty.errors = validate.errors;
      return valid;
    };
    validateOrEmpty.errors = validate.errors;
    return validateOrEmpty;
  };
}
