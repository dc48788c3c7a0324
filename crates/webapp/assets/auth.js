// Sign in and create an account (local accounts). The token is kept in localStorage so a reload
// keeps the session; the app checks it with /api/auth/me and drops it on 401.

import { $ } from './dom.js';
import { ApiError, post, saveSession } from './api.js';
import { browserZone } from './time.js';

function showTab(which) {
  for (const name of ['signin', 'signup']) {
    const on = name === which;
    const tab = $(`#tab-${name}`);
    tab.setAttribute('aria-selected', String(on));
    tab.tabIndex = on ? 0 : -1;
    $(`#${name}-panel`).hidden = !on;
  }
  $(`#${which}-form input`).focus();
}

async function signIn(email, password) {
  const login = await post('/api/auth/login', { email, password });
  saveSession({ token: login.access_token, user: login.user });
}

function formError(form, err) {
  const out = form.querySelector('.form-error');
  out.textContent = err ? (err.message || String(err)) : '';
  if (err && err.field) {
    const input = form.querySelector(`[name="${err.field}"]`);
    if (input) input.focus();
  }
}

/** Wires the forms; `done` runs once signed in. */
export function setupAuth(done) {
  $('#tab-signin').addEventListener('click', () => showTab('signin'));
  $('#tab-signup').addEventListener('click', () => showTab('signup'));
  $('.tabs').addEventListener('keydown', (e) => {
    if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') {
      showTab($('#tab-signin').getAttribute('aria-selected') === 'true' ? 'signup' : 'signin');
      $('[role=tab][aria-selected=true]').focus();
    }
  });
  const busy = (form, on) => { form.querySelector('button[type=submit]').disabled = on; };

  $('#signin-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const form = e.currentTarget;
    formError(form, null);
    busy(form, true);
    try {
      await signIn(form.email.value.trim(), form.password.value);
      form.reset();
      done();
    } catch (err) {
      formError(form, err);
    } finally {
      busy(form, false);
    }
  });

  $('#signup-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const form = e.currentTarget;
    formError(form, null);
    busy(form, true);
    const body = { name: form.name.value.trim(), email: form.email.value.trim(), password: form.password.value };
    try {
      try {
        await post('/api/auth/register', { ...body, timezone: browserZone() });
      } catch (err) {
        // A browser zone the server does not know: fall back to UTC rather than fail.
        if (!(err instanceof ApiError && err.field === 'timezone')) throw err;
        await post('/api/auth/register', body);
      }
      try {
        await signIn(body.email, body.password);
      } catch (err) {
        // Registration answers alike whether or not the address was free (it reveals no
        // accounts), so a refused sign-in right after it means the address already had one.
        if (err instanceof ApiError && err.status === 401) {
          throw new ApiError(401, 'unauthorized', 'This e-mail address already has an account: sign in with its password.');
        }
        throw err;
      }
      form.reset();
      done();
    } catch (err) {
      formError(form, err);
    } finally {
      busy(form, false);
    }
  });
}

export function showSignIn(message) {
  $('#signed-in').hidden = true;
  $('#signed-out').hidden = false;
  showTab('signin');
  if (message) $('#signin-form .form-error').textContent = message;
}
