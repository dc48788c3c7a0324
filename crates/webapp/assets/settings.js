// The settings dialog (from the header): name, time zone and the due-soon reminder, saved through
// PATCH /api/auth/me like any client would. The zone list is the browser's IANA list
// (Intl.supportedValuesOf); the server accepts exactly chrono-tz's names, so a name it does not know
// comes back as a 422 on `timezone`, shown in words. A saved zone re-renders every date at once.

import { $, h, toast } from './dom.js';
import { request, saveSession, session } from './api.js';
import { setZone } from './time.js';

let profile = null;
let onSaved = () => {};

/** Every zone the browser knows, plus the current one and UTC if it left them out. */
function zones(current) {
  let list = [];
  try { list = Intl.supportedValuesOf('timeZone'); } catch { list = []; }
  const all = new Set(list);
  for (const z of [current, 'UTC']) if (z) all.add(z);
  return [...all].sort();
}

function syncReminder() {
  const f = $('#settings-form');
  f.remind_minutes.disabled = !f.remind_on.checked;
}

/** Opens the dialog with the signed-in profile. */
function open() {
  const f = $('#settings-form');
  f.querySelector('.form-error').textContent = '';
  f.name.value = profile.name;
  f.timezone.replaceChildren(...zones(profile.timezone).map((z) => h('option', { value: z }, z.replaceAll('_', ' '))));
  f.timezone.value = profile.timezone;
  f.remind_on.checked = profile.default_reminder_minutes != null;
  f.remind_minutes.value = String(profile.default_reminder_minutes ?? 30);
  syncReminder();
  $('#settings').showModal();
  f.name.focus();
}

/** The API's error `field` → the control and its label. */
const FIELDS = {
  name: { input: 'name', label: 'Name' },
  timezone: { input: 'timezone', label: 'Time zone' },
  default_reminder_minutes: { input: 'remind_minutes', label: 'Minutes before due' },
};

async function save(e) {
  e.preventDefault();
  const f = $('#settings-form');
  const err = f.querySelector('.form-error');
  err.textContent = '';
  const minutes = f.remind_on.checked ? Number(f.remind_minutes.value) : null;
  if (f.remind_on.checked && !(Number.isInteger(minutes) && minutes >= 1 && minutes <= 1440)) {
    err.textContent = 'Minutes before due must be a whole number from 1 to 1440.';
    f.remind_minutes.focus();
    return;
  }
  const body = {};
  if (f.name.value.trim() !== profile.name) body.name = f.name.value.trim();
  if (f.timezone.value !== profile.timezone) body.timezone = f.timezone.value;
  if (minutes !== (profile.default_reminder_minutes ?? null)) body.default_reminder_minutes = minutes;
  if (!Object.keys(body).length) { $('#settings').close(); return; }
  try {
    const { data } = await request('PATCH', '/api/auth/me', body);
    setProfile(data);
    $('#settings').close();
    toast('Settings saved.');
    onSaved(data);
  } catch (ex) {
    const field = FIELDS[ex.field];
    err.textContent = field ? `${field.label}: ${ex.message}` : ex.message;
    if (field) f.elements[field.input].focus();
  }
}

/** Keeps the signed-in profile: the session's copy, the zone dates are shown in, the header name. */
export function setProfile(p) {
  profile = p;
  const s = session();
  if (s) saveSession({ ...s, user: { ...s.user, id: p.id, name: p.name, timezone: p.timezone } });
  setZone(p.timezone);
  $('#who').textContent = p.name;
}

/** Wires the dialog; `saved(profile)` runs after a save. */
export function setupSettings(saved) {
  onSaved = saved;
  const f = $('#settings-form');
  $('#open-settings').addEventListener('click', open);
  f.addEventListener('submit', save);
  f.remind_on.addEventListener('change', syncReminder);
  $('#s-cancel').addEventListener('click', () => $('#settings').close());
  $('#settings').addEventListener('close', () => $('#open-settings').focus());
}
