// The entry point: decides between the sign-in screen and the app, and wires the parts together.

import { $, showError } from './dom.js';
import { get, me, saveSession, session, whenUnauthorized } from './api.js';
import { setupAuth, showSignIn } from './auth.js';
import { setupTasks, refreshTasks, applyEvent, flushDeletes } from './tasks.js';
import { setupInbox, refreshInbox, onReminder } from './inbox.js';
import { setupChat } from './chat.js';
import { connectLive, disconnectLive } from './live.js';
import { setProfile, setupSettings } from './settings.js';

let started = false;

function signOut(message) {
  flushDeletes();
  disconnectLive();
  saveSession(null);
  showSignIn(message);
}

async function enter() {
  let profile;
  try {
    profile = await get('/api/auth/me');
  } catch (err) {
    if (err.status !== 401) showError(err);
    return;
  }
  setProfile(profile);
  $('#signed-out').hidden = true;
  $('#signed-in').hidden = false;
  if (!started) {
    started = true;
    setupTasks();
    setupInbox();
    setupChat();
    setupSettings(() => refreshTasks());
  }
  $('#new-task').focus();
  await Promise.all([refreshTasks(), refreshInbox()]);
  connectLive(me(''), (type, message) => {
    if (type === 'reminder-due') onReminder(message);
    else if (type === 'resync') { refreshTasks(); refreshInbox(); }
    else applyEvent(type, message);
  });
}

whenUnauthorized(() => signOut('Your session has ended. Please sign in again.'));

document.addEventListener('DOMContentLoaded', () => {
  setupAuth(enter);
  $('#sign-out').addEventListener('click', () => signOut());
  if (session()) enter(); else showSignIn();
});
