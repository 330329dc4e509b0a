import { generate } from 'otplib';
import type { TestApp } from './test-app.js';

/** The TOTP code an authenticator app would show at the app's (test) clock time, `stepOffset` steps away. */
export function totpCode(t: TestApp, secret: string, stepOffset = 0): Promise<string> {
  return generate({ secret, epoch: Math.floor(t.clock.now().getTime() / 1000) + stepOffset * 30 });
}
