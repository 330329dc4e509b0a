import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Caller, MemberPrincipal } from '../core/principal.js';
import { AppError } from '../lib/app-error.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal: MemberPrincipal | undefined;
  }
}

export type Authenticator = (token: string) => Promise<MemberPrincipal | undefined>;

const BEARER = /^Bearer ([A-Za-z0-9_\-.~+/]+=*)$/;

/** A preHandler that establishes the principal from `Authorization: Bearer …`, or answers 401. */
export function requireAuthentication(authenticate: Authenticator) {
  return async (request: FastifyRequest, _reply: FastifyReply): Promise<void> => {
    const match = BEARER.exec(request.headers.authorization ?? '');
    const principal = match ? await authenticate(match[1]!) : undefined;
    if (!principal) throw new AppError('UNAUTHENTICATED');
    request.principal = principal;
  };
}

/** The authenticated caller of a request that passed `requireAuthentication`. */
export function callerOf(request: FastifyRequest): Caller {
  if (!request.principal) throw new AppError('UNAUTHENTICATED');
  return { principal: request.principal, ip: request.ip };
}
