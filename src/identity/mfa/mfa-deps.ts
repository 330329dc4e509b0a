import type { MailingUseCaseDeps } from '../identity-deps.js';

/** What the second-factor use cases need. */
export type MfaDeps = MailingUseCaseDeps;
