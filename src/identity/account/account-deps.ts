import type { MailingUseCaseDeps } from '../identity-deps.js';

/** What the user's account use cases (password change and reset, sessions) need. */
export type AccountDeps = MailingUseCaseDeps;
