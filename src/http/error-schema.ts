import { Type } from 'typebox';

/** The error body, for the OpenAPI description of every route. */
export const ErrorBody = Type.Object({
  error: Type.Object({
    code: Type.String(),
    message: Type.String(),
    requestId: Type.String(),
    details: Type.Optional(Type.Object({}, { additionalProperties: true })),
  }),
});

/** For 204 answers: no body. */
export const NoContent = Type.Null({ description: 'No content' });

export const errorResponses = (...statuses: number[]) => Object.fromEntries(statuses.map((status) => [status, ErrorBody]));
