// The edit dialog: every field of a task, saved as one partial update with If-Match (a change made
// elsewhere meanwhile is reported, not overwritten), and the next dates of a repeating task: the saved
// series' when the dialog opens, then the rule being typed's (POST /recurrence/preview, debounced),
// with the server's reason in words when the rule is refused.

import { $, h, showError, debounce } from './dom.js';
import { get, post, request, me } from './api.js';
import { friendly, toInput, fromInput } from './time.js';

const PRESETS = ['daily', 'weekdays', 'weekly', 'monthly', 'yearly'];
let current = null;
let callbacks = null;
let reminderSeq = 0;

function reminderRow(r) {
  const n = (reminderSeq += 1);
  const relative = !r || r.minutes_before_due != null;
  const kind = h('select', { id: `r-kind-${n}`, class: 'r-kind' },
    h('option', { value: 'before', selected: relative }, 'Minutes before due'),
    h('option', { value: 'at', selected: !relative }, 'At a time'));
  const minutes = h('input', { id: `r-min-${n}`, class: 'r-min', type: 'number', min: '0', max: '525600', value: relative ? String(r ? r.minutes_before_due : 30) : '30' });
  const at = h('input', { id: `r-at-${n}`, class: 'r-at', type: 'datetime-local', value: !relative && r ? toInput(r.remind_at) : '' });
  const sync = () => {
    minutes.parentElement.hidden = kind.value !== 'before';
    at.parentElement.hidden = kind.value !== 'at';
  };
  kind.addEventListener('change', sync);
  const li = h('li', { class: 'reminder' },
    h('div', { class: 'field' }, h('label', { for: kind.id }, 'Reminder'), kind),
    h('div', { class: 'field' }, h('label', { for: minutes.id }, 'Minutes before'), minutes),
    h('div', { class: 'field' }, h('label', { for: at.id }, 'Remind at'), at),
    h('button', { type: 'button', class: 'ghost', 'aria-label': 'Remove this reminder', onclick: () => li.remove() }, 'Remove'));
  sync();
  return li;
}

function readReminders() {
  return [...document.querySelectorAll('#e-reminders .reminder')].map((li) => {
    if (li.querySelector('.r-kind').value === 'before') return { minutes_before_due: Number(li.querySelector('.r-min').value) };
    return { remind_at: fromInput(li.querySelector('.r-at').value) };
  });
}

function syncRepeat() {
  const f = $('#editor-form');
  $('#e-rule-field').hidden = f.repeat.value !== 'custom';
  f.anchor.disabled = !f.repeat.value;
}

/** "Next: …" for a list of dates, or that the series ends. */
function nextText(dates) {
  return dates.length ? `Next: ${dates.map(friendly).join(' · ')}` : 'No further dates.';
}

/** Shows `text` under the rule; `bad` marks it as the reason the rule is refused. */
function setNext(text, bad = false) {
  const out = $('#e-next');
  out.textContent = text;
  out.classList.toggle('error', bad);
}

let asked = 0;

async function showNext(task) {
  const mine = ++asked;
  setNext('');
  if (!task.recurrence) return;
  try {
    const o = await get(me(`/tasks/${task.id}/occurrences?limit=3`));
    if (mine === asked) setNext(nextText(o.occurrences));
  } catch { /* a preview only */ }
}

/** The next dates of the rule as it stands in the form, unsaved. */
async function previewRule() {
  const f = $('#editor-form');
  const mine = ++asked;
  const rule = f.repeat.value === 'custom' ? f.rule.value.trim() : f.repeat.value;
  if (!f.repeat.value) { setNext(''); return; }
  if (!rule) { setNext('Type a rule, e.g. FREQ=WEEKLY;BYDAY=MO,WE'); return; }
  const body = { recurrence: { rule, anchor: f.anchor.value }, limit: 3 };
  const due = fromInput(f.due.value);
  if (due) body.due_at = due;
  try {
    const o = await post(me('/recurrence/preview'), body);
    if (mine === asked) setNext(nextText(o.occurrences));
  } catch (err) {
    if (mine === asked) setNext(err.status === 422 ? `This rule cannot be used: ${err.message}` : err.message, true);
  }
}

const previewSoon = debounce(previewRule, 300);

/** Opens the dialog for `task`; `cbs.saved(task)` after a save, `cbs.remove()` on Delete. */
export function openEditor(task, cbs) {
  current = task;
  callbacks = cbs;
  const f = $('#editor-form');
  f.querySelector('.form-error').textContent = '';
  f.title.value = task.title;
  f.description.value = task.description || '';
  f.due.value = toInput(task.due_at);
  f.priority.value = task.priority;
  f.category.value = task.category;
  f.tags.value = task.tags.join(', ');
  const rule = task.recurrence ? String(task.recurrence.rule) : '';
  f.repeat.value = !rule ? '' : (PRESETS.includes(rule) ? rule : 'custom');
  f.rule.value = PRESETS.includes(rule) ? '' : rule;
  f.anchor.value = task.recurrence ? task.recurrence.anchor : 'due';
  syncRepeat();
  $('#e-reminders').replaceChildren(...task.reminders.map(reminderRow));
  showNext(task);
  $('#editor').showModal();
  f.title.focus();
}

const normalise = (r) => (r.remind_at ? { remind_at: new Date(r.remind_at).toISOString() } : r);

async function save(e) {
  e.preventDefault();
  const f = $('#editor-form');
  const err = f.querySelector('.form-error');
  err.textContent = '';
  const rule = f.repeat.value === 'custom' ? f.rule.value.trim() : f.repeat.value;
  const body = {
    title: f.title.value,
    description: f.description.value.trim() ? f.description.value : null,
    due_at: fromInput(f.due.value),
    priority: f.priority.value,
    category: f.category.value,
    tags: f.tags.value.split(',').map((t) => t.trim()).filter(Boolean),
    recurrence: rule ? { rule, anchor: f.anchor.value } : null,
    reminders: readReminders(),
  };
  // Only what changed is sent: an unchanged repetition keeps its series position.
  const was = {
    title: current.title, description: current.description, due_at: current.due_at, priority: current.priority,
    category: current.category, tags: current.tags,
    recurrence: current.recurrence ? { rule: String(current.recurrence.rule), anchor: current.recurrence.anchor } : null,
    reminders: current.reminders.map((r) => (r.minutes_before_due != null ? { minutes_before_due: r.minutes_before_due } : { remind_at: r.remind_at })),
  };
  const same = (a, b) => JSON.stringify(a) === JSON.stringify(b)
    || (a && b && typeof a === 'string' && typeof b === 'string' && Date.parse(a) === Date.parse(b));
  for (const key of Object.keys(body)) {
    if (key === 'reminders' ? same(body[key].map(normalise), was[key].map(normalise)) : same(body[key], was[key])) delete body[key];
  }
  if (!Object.keys(body).length) { $('#editor').close(); return; }
  try {
    const { data } = await request('PATCH', me(`/tasks/${current.id}`), body, { 'If-Match': `"${current.version}"` });
    $('#editor').close();
    callbacks.saved(data);
  } catch (ex) {
    if (ex.status === 412) {
      err.textContent = 'This task was changed elsewhere. Close and open it again to see the latest version.';
    } else {
      err.textContent = ex.field ? `${ex.field}: ${ex.message}` : ex.message;
      if (ex.status === 0 || ex.status >= 500) showError(ex);
    }
  }
}

export function setupEditor() {
  const f = $('#editor-form');
  f.addEventListener('submit', save);
  f.repeat.addEventListener('change', () => { syncRepeat(); previewSoon(); });
  for (const input of [f.rule, f.due]) input.addEventListener('input', previewSoon);
  f.anchor.addEventListener('change', previewSoon);
  $('#e-add-reminder').addEventListener('click', () => {
    const li = reminderRow(null);
    $('#e-reminders').append(li);
    li.querySelector('select').focus();
  });
  $('#e-cancel').addEventListener('click', () => $('#editor').close());
  $('#editor').addEventListener('close', () => { previewSoon.cancel(); asked += 1; });
  $('#e-delete').addEventListener('click', () => {
    $('#editor').close();
    callbacks.remove();
  });
}
