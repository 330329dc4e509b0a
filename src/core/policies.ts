import { AppError } from '../lib/app-error.js';
import type { Principal, Role } from './principal.js';

/**
 * One declarative rule per action: which roles may do it. Routes call `authorize` before the
 * use case; anything not listed here is refused.
 */
const RULES = {
  'records.read': ['owner', 'admin', 'member'],
  'records.write': ['owner', 'admin', 'member'],
  'accessLog.read': ['owner', 'admin'],
  'accessLog.verify': ['owner', 'admin'],
} as const satisfies Record<string, readonly Role[]>;

export type Action = keyof typeof RULES;

export function isAllowed(principal: Principal, action: Action): boolean {
  return (RULES[action] as readonly Role[]).includes(principal.role);
}

export function authorize(principal: Principal, action: Action): void {
  if (!isAllowed(principal, action)) throw new AppError('FORBIDDEN');
}
