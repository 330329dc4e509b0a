import { Type } from 'typebox';

/**
 * `{"password"}` or `{"code"}`: the fresh check a sensitive act asks for (a factor change, a key
 * rotation, deleting the tenant), or none within 5 minutes of one (Mfa.reauthenticate).
 */
export const ProofFields = {
  password: Type.Optional(Type.String({ minLength: 1, maxLength: 4096, description: 'the user’s password: re-authentication' })),
  code: Type.Optional(Type.String({ minLength: 1, maxLength: 20, description: 'a current authenticator code, instead of the password' })),
};

export const ProofSchema = Type.Object(ProofFields, { additionalProperties: false });
