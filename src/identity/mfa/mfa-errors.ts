import { AppError } from '../../lib/app-error.js';

/** The answers of a failed second step, each with its stable reason (docs/errors.md). */
export const wrongCode = () => new AppError('UNAUTHENTICATED', { message: 'The code is not correct.', details: { reason: 'wrong_code' } });

/** A code that was right but whose 30-second step was already used (RFC 6238 §5.2: each code works once). */
export const replayedCode = () =>
  new AppError('UNAUTHENTICATED', {
    message: 'This code was already used: wait for the next one from your app (codes change every 30 seconds).',
    details: { reason: 'code_already_used' },
  });

export const closedChallenge = () =>
  new AppError('UNAUTHENTICATED', { message: 'The sign-in challenge is not valid or has expired; sign in again.', details: { reason: 'invalid_challenge' } });
