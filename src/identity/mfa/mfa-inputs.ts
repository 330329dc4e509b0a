import type { AuthenticationResponseJSON } from '@simplewebauthn/server';

export interface Proof {
  password?: string;
  code?: string;
}

/** The second step of sign-in as offered: one of a TOTP code, a passkey assertion or a recovery code. */
export interface SecondFactorInput {
  code?: string;
  recoveryCode?: string;
  webauthn?: AuthenticationResponseJSON;
}
