import { PAGE_SCRIPT } from './page-script.js';

/** A page behind a link in one of Confide's e-mails: what the token is for, and the API call that uses it. */
export interface TokenPage {
  path: string;
  title: string;
  /** Paragraphs, plain text: what the token proves, how long it lasts. */
  about: string[];
  method: 'POST';
  endpoint: string;
  /** The JSON body as shown, with `TOKEN` where the token goes. */
  body: string;
  /** What each answer means. */
  answers: string[];
  password?: { label: string; autocomplete: 'new-password' | 'current-password' };
  button: string;
  done: string;
}

/**
 * The three links Confide mails. Until a console exists these pages stand in for it, so a link
 * never leads to a 404: each says in plain words what to do with the token and, with JavaScript,
 * does it. The texts are static (no request value is ever written into a page).
 */
export const TOKEN_PAGES: readonly TokenPage[] = [
  {
    path: '/verify-email',
    title: 'Confirm your e-mail address',
    about: [
      'The link in your e-mail carries a one-time token (the part after #token=, starting cfv_). It proves that the address is yours: until it is confirmed, your account can sign in, but every other call answers 403 EMAIL_NOT_VERIFIED.',
      'The token works once and expires 24 hours after the e-mail was sent.',
    ],
    method: 'POST',
    endpoint: '/v1/email-verifications/confirm',
    body: '{"token": "TOKEN"}',
    answers: [
      '204: the address is confirmed.',
      '401: the token has expired or was used; sign in and call POST /v1/email-verifications for a new link.',
    ],
    button: 'Confirm my address',
    done: 'Your e-mail address is confirmed. You can close this page.',
  },
  {
    path: '/accept-invitation',
    title: 'Accept an invitation',
    about: [
      'The link in your e-mail carries a one-time invitation token (the part after #token=, starting cfi_) to join an organisation on Confide.',
      'Send it with a password: a new password for your account if this e-mail address has none yet, or else the password of your existing Confide account. The invitation works once and expires 7 days after it was sent.',
    ],
    method: 'POST',
    endpoint: '/v1/invitations/accept',
    body: '{"token": "TOKEN", "password": "your password"}',
    answers: [
      '201: you are a member; the answer is a session, as POST /v1/sessions gives one ({"token", "expiresAt", "tenantId", "userId"}).',
      '200 {"mfaRequired": true, "challenge", ...}: you are a member, and your account has a second factor: finish signing in with POST /v1/sessions/mfa.',
      '400: the password is missing or too weak (the answer says why); 401: the invitation has expired, was used or revoked, or the password of the existing account is wrong.',
    ],
    password: { label: 'Password', autocomplete: 'new-password' },
    button: 'Accept the invitation',
    done: 'You have joined. Sign in with your e-mail address and this password (POST /v1/sessions).',
  },
  {
    path: '/reset-password',
    title: 'Choose a new password',
    about: [
      'The link in your e-mail carries a one-time token (the part after #token=, starting cfr_) that lets you set a new password for your Confide account.',
      'The token works once and expires 30 minutes after the e-mail was sent. Your second factor, if you have one, stays as it is.',
    ],
    method: 'POST',
    endpoint: '/v1/password-resets/confirm',
    body: '{"token": "TOKEN", "password": "your new password"}',
    answers: ['204: the password is changed; sign in with it.', '400: the new password is too weak (the answer says why); 401: the token has expired or was used.'],
    password: { label: 'New password', autocomplete: 'new-password' },
    button: 'Set the new password',
    done: 'Your password is changed. Sign in with the new one.',
  },
];

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);

/** The page as HTML: readable without JavaScript (the API call), usable with it (the form). */
export function renderTokenPage(page: TokenPage): string {
  const [before, after] = page.body.split('TOKEN').map(escapeHtml);
  const passwordField = page.password
    ? `<p><label>${escapeHtml(page.password.label)} <input type="password" name="password" autocomplete="${page.password.autocomplete}" required></label></p>\n`
    : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Confide: ${escapeHtml(page.title)}</title>
</head>
<body>
<h1>${escapeHtml(page.title)}</h1>
${page.about.map((text) => `<p>${escapeHtml(text)}</p>`).join('\n')}
<h2>With the API</h2>
<p>Confide has no web console yet. Send the token to the API, on this same address:</p>
<pre>${page.method} ${escapeHtml(page.endpoint)}
Content-Type: application/json

${before}<span class="token">the token from the link</span>${after ?? ''}</pre>
<ul>
${page.answers.map((text) => `<li>${escapeHtml(text)}</li>`).join('\n')}
</ul>
<h2>From this page</h2>
<form id="act" method="post" data-endpoint="${escapeHtml(page.endpoint)}" data-done="${escapeHtml(page.done)}" hidden>
${passwordField}<p><button type="submit">${escapeHtml(page.button)}</button></p>
</form>
<p id="out" role="status">This needs JavaScript; without it, use the API call above.</p>
<script>${PAGE_SCRIPT}</script>
</body>
</html>
`;
}
