import { AppError } from '../lib/app-error.js';

/** Why a decision cannot be made on a request or grant in its current state (409 CONFLICT, `details.reason`). */
export type DecisionConflict = 'not_pending' | 'break_glass' | 'not_break_glass' | 'not_granted' | 'already_reviewed' | 'grant_not_active' | 'staff_disabled';

export function conflict(reason: DecisionConflict, message: string): AppError {
  return new AppError('CONFLICT', { message, details: { reason } });
}
