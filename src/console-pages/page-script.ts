import { createHash } from 'node:crypto';

/**
 * The one inline script of the token pages. It reads the token from the link's fragment (which a
 * browser never sends to a server), takes it out of the address bar and the history, shows it,
 * and on a press of the button posts it (with the password, where the page asks for one) to the
 * API named by the form's `data-endpoint`. The same text on every page, so one CSP hash allows it.
 */
export const PAGE_SCRIPT = `(() => {
  const form = document.getElementById('act');
  const out = document.getElementById('out');
  const token = new URLSearchParams(location.hash.slice(1)).get('token');
  if (!token) {
    out.textContent = 'This page needs the link from your e-mail: the part after #token= is missing.';
    return;
  }
  history.replaceState(null, '', location.pathname);
  for (const slot of document.querySelectorAll('.token')) slot.textContent = token;
  form.hidden = false;
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = { token };
    const password = form.elements.namedItem('password');
    if (password) body.password = password.value;
    const button = form.querySelector('button');
    button.disabled = true;
    out.textContent = 'Sending...';
    try {
      const response = await fetch(form.dataset.endpoint, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      if (response.ok) {
        out.textContent = form.dataset.done;
        form.hidden = true;
        return;
      }
      const answer = await response.json().catch(() => ({}));
      out.textContent = 'Not done (' + response.status + '): ' + ((answer.error && answer.error.message) || 'the request failed');
    } catch {
      out.textContent = 'Confide could not be reached; try again, or use the API call above.';
    }
    button.disabled = false;
  });
})();`;

/** The CSP source that allows exactly PAGE_SCRIPT inline (CSP Level 2 hash source). */
export const PAGE_SCRIPT_HASH = `'sha256-${createHash('sha256').update(PAGE_SCRIPT, 'utf8').digest('base64')}'`;
