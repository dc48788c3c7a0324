// The task list: quick-add, filters, search, sort, cursor paging, completion, delete with undo (the
// DELETE waits out the undo window), stats, and live events applied in place. Rows are keyed by task
// id and updated in place, so a refresh never steals the keyboard focus.

import { $, h, toast, showError, debounce } from './dom.js';
import { get, post, del, request, me, session } from './api.js';
import { friendly, urgency } from './time.js';
import { openEditor, setupEditor } from './editor.js';

const PAGE = 50;
const list = () => $('#tasks');
let rows = new Map(); // id → {task, li}
let cursor = null;
let generation = 0;
/** Deletes waiting out their undo window: id → {task, timer, close}. The row is hidden at once; the
 * DELETE is sent only when the window ends, so Undo keeps the task itself (its id, series link and
 * history), and other windows see the deletion when it is sent. */
const pending = new Map();
const UNDO_MS = 8000;
/** Deletes sent as the page went away (id → when), kept for the tab in sessionStorage: after a reload
 * the list may be read before the server has applied them, and the stream that would report them is
 * not open yet, so those rows stay hidden for a while. */
const SENT_KEY = 'taskflow.sentDeletes';
const SENT_MS = 30000;

function sentDeletes() {
  try {
    const all = JSON.parse(sessionStorage.getItem(SENT_KEY) || '{}');
    const now = Date.now();
    return Object.fromEntries(Object.entries(all).filter(([, at]) => now - at < SENT_MS));
  } catch { return {}; }
}

function rememberSent(ids) {
  const all = sentDeletes();
  for (const id of ids) all[id] = Date.now();
  try { sessionStorage.setItem(SENT_KEY, JSON.stringify(all)); } catch { /* storage full or off */ }
}

function query(limit, after) {
  const f = $('#filters');
  const p = new URLSearchParams();
  p.set('status', f.status.value);
  if (f.priority.value) p.set('priority', f.priority.value);
  if (f.category.value) p.set('category', f.category.value);
  const tag = f.tag.value.trim().replace(/^#/, '');
  if (tag) p.set('tag', tag);
  const search = f.search.value.trim();
  if (search) p.set('search', search);
  const [sortBy, order] = f.sort.value.split(':');
  p.set('sort_by', sortBy);
  p.set('sort_order', order);
  p.set('limit', String(limit));
  if (after) p.set('cursor', after);
  return `?${p}`;
}

const PRIORITY = { high: 'High', medium: 'Medium', low: 'Low' };
const CATEGORY = { work: 'Work', personal: 'Personal', home: 'Home', other: 'Other' };

function ruleText(rec) {
  if (!rec) return '';
  const r = String(rec.rule);
  const preset = { daily: 'daily', weekdays: 'weekdays', weekly: 'weekly', monthly: 'monthly', yearly: 'yearly' }[r];
  if (preset) return preset;
  const freq = /FREQ=(\w+)/.exec(r);
  const unit = freq && { DAILY: 'day', WEEKLY: 'week', MONTHLY: 'month', YEARLY: 'year' }[freq[1]];
  if (!unit) return 'custom';
  const n = /INTERVAL=(\d+)/.exec(r);
  return n && n[1] !== '1' ? `every ${n[1]} ${unit}s` : `every ${unit}`;
}

/** Fills (or refills) one row from `task`, reusing its elements. */
function renderRow(li, task) {
  if (!li.firstChild) {
    const titleId = `t-${task.id}`;
    li.append(
      h('input', { type: 'checkbox', class: 'check', 'aria-labelledby': titleId, onchange: (e) => setCompleted(task.id, e.target.checked) }),
      h('div', { class: 'body' }, h('span', { id: titleId, class: 'title' }), h('div', { class: 'meta' })),
      h('button', { type: 'button', class: 'ghost edit', onclick: () => edit(task.id) }, 'Edit'),
      h('button', { type: 'button', class: 'ghost icon delete', onclick: () => remove(task.id) }, h('span', { 'aria-hidden': 'true' }, '🗑')),
    );
  }
  const u = urgency(task);
  li.className = `task ${u} ${task.completed ? 'done' : ''} prio-${task.priority}`;
  li.dataset.id = task.id;
  li.querySelector('.check').checked = task.completed;
  li.querySelector('.title').textContent = task.title;
  li.querySelector('.edit').setAttribute('aria-label', `Edit ${task.title}`);
  li.querySelector('.delete').setAttribute('aria-label', `Delete ${task.title}`);
  const meta = li.querySelector('.meta');
  meta.replaceChildren(...[
    task.due_at ? h('span', { class: `chip due ${u}` }, u === 'overdue' ? `Overdue · ${friendly(task.due_at)}` : friendly(task.due_at)) : null,
    task.priority !== 'medium' ? h('span', { class: `chip prio ${task.priority}` }, `${PRIORITY[task.priority]} priority`) : null,
    task.category !== 'other' ? h('span', { class: 'chip' }, CATEGORY[task.category]) : null,
    ...task.tags.map((t) => h('span', { class: 'chip tag' }, `#${t}`)),
    task.recurrence ? h('span', { class: 'chip' }, `🔁 ${ruleText(task.recurrence)}`) : null,
    task.reminders.length ? h('span', { class: 'chip' }, `⏰ ${task.reminders.length}`) : null,
    task.description ? h('span', { class: 'desc' }, task.description.split('\n')[0].slice(0, 120)) : null,
  ].filter(Boolean));
}

/** Shows `tasks` in order (replacing the list when `replace`), keeping focus where it was. */
function show(tasks, replace) {
  const ul = list();
  const focused = ul.contains(document.activeElement) ? document.activeElement : null;
  const focusedIndex = focused ? [...ul.children].indexOf(focused.closest('li')) : -1;
  const next = replace ? new Map() : rows;
  const sent = sentDeletes();
  for (const task of tasks) {
    if (pending.has(task.id) || task.id in sent) continue;
    const old = rows.get(task.id);
    const li = old ? old.li : h('li');
    if (!old || old.task.version !== task.version || replace) renderRow(li, task);
    next.set(task.id, { task, li });
  }
  if (replace) {
    for (const [id, { li }] of rows) if (!next.has(id)) li.remove();
  }
  rows = next;
  let i = 0;
  for (const { li } of rows.values()) {
    if (ul.children[i] !== li) ul.insertBefore(li, ul.children[i] || null);
    i += 1;
  }
  $('#empty').hidden = rows.size > 0;
  if (focused && !ul.contains(document.activeElement)) {
    const items = [...ul.children];
    const target = items[Math.min(focusedIndex, items.length - 1)];
    if (target) target.querySelector('.check').focus();
  }
}

/** Reloads the list from the first page, as many rows as are shown now. */
export async function refreshTasks() {
  const mine = ++generation;
  try {
    const limit = Math.min(200, Math.max(PAGE, rows.size));
    const page = await get(me(`/tasks${query(limit)}`));
    if (mine !== generation) return;
    cursor = page.next_cursor;
    show(page.tasks, true);
    $('#more').hidden = !cursor;
  } catch (err) {
    showError(err);
  }
  refreshStats();
}

async function loadMore() {
  if (!cursor) return;
  try {
    const page = await get(me(`/tasks${query(PAGE, cursor)}`));
    cursor = page.next_cursor;
    show(page.tasks, false);
    $('#more').hidden = !cursor;
  } catch (err) {
    showError(err);
  }
}

const refreshSoon = debounce(refreshTasks, 150);

async function refreshStats() {
  try {
    const s = await get(me('/stats'));
    $('#stats').replaceChildren(
      h('span', { class: 'stat' }, h('strong', {}, String(s.pending)), ' pending'),
      h('span', { class: `stat ${s.overdue ? 'overdue' : ''}` }, h('strong', {}, String(s.overdue)), ' overdue'),
      h('span', { class: 'stat' }, h('strong', {}, String(s.completed)), ' done'),
      h('span', { class: 'stat muted' }, `${s.total} in all · ${s.by_priority.high || 0} high priority`),
    );
  } catch {
    // Stats are a nicety; the list shows errors.
  }
}

/** A change from the live stream: applied to a visible row at once, then the list is refreshed. */
export function applyEvent(type, message) {
  const task = message && message.data && message.data.task;
  if (task && rows.has(task.id)) {
    if (type === 'task-deleted') {
      rows.get(task.id).li.remove();
      rows.delete(task.id);
    } else if (rows.get(task.id).task.version < task.version) {
      show([task], false);
    }
  }
  refreshSoon();
}

async function setCompleted(id, completed) {
  const row = rows.get(id);
  try {
    const { data } = await request('PATCH', me(`/tasks/${id}/complete`), { completed });
    show([data], false);
    if (completed) {
      toast(`Completed “${data.title}”.`, { action: { label: 'Undo', run: () => setCompleted(id, false) } });
    }
    refreshSoon();
  } catch (err) {
    if (row) row.li.querySelector('.check').checked = !completed;
    showError(err);
  }
}

/** Sends the DELETE for a pending delete whose window ended (or that was dismissed). */
async function commitDelete(id) {
  const p = pending.get(id);
  if (!p) return;
  clearTimeout(p.timer);
  pending.delete(id);
  try {
    await del(me(`/tasks/${id}`));
  } catch (err) {
    // Already gone elsewhere is what was wanted; anything else brings the row back.
    if (err.status !== 404) { showError(err); refreshTasks(); return; }
  }
  refreshStats();
}

function undoDelete(id) {
  const p = pending.get(id);
  if (!p) return;
  clearTimeout(p.timer);
  pending.delete(id);
  refreshTasks();
}

/** The page is going away (or hidden, when it may never come back): every pending delete is sent
 * now, with keepalive so the request outlives the page. */
export function flushDeletes() {
  const s = session();
  rememberSent(pending.keys());
  for (const [id, p] of pending) {
    clearTimeout(p.timer);
    p.close();
    if (s && s.token) {
      fetch(me(`/tasks/${id}`), { method: 'DELETE', keepalive: true, headers: { Authorization: `Bearer ${s.token}` } })
        .catch(() => {});
    }
  }
  pending.clear();
}

export function remove(id) {
  const row = rows.get(id);
  if (!row || pending.has(id)) return;
  const { task } = row;
  row.li.remove();
  rows.delete(id);
  $('#empty').hidden = rows.size > 0;
  const close = toast(`Deleted “${task.title}”.`, {
    timeout: UNDO_MS,
    action: { label: 'Undo', run: () => undoDelete(id) },
    dismissed: () => commitDelete(id),
  });
  pending.set(id, { task, close, timer: setTimeout(() => commitDelete(id), UNDO_MS) });
}

async function edit(id) {
  const row = rows.get(id);
  if (!row) return;
  openEditor(row.task, {
    saved: (task) => { show([task], false); refreshSoon(); },
    remove: () => remove(id),
  });
}

function understoodText(u) {
  const bits = [`“${u.title}”`];
  if (u.due_at) bits.push(`📅 ${friendly(u.due_at)}`);
  if (u.recurrence_rule) bits.push(`🔁 ${u.recurrence_rule}`);
  if (u.reminders.length) bits.push(`⏰ ${u.remind || 'reminder'}`);
  if (u.priority !== 'medium') bits.push(`${PRIORITY[u.priority]} priority`);
  if (u.category !== 'other') bits.push(CATEGORY[u.category]);
  for (const t of u.tags) bits.push(`#${t}`);
  return bits.join(' · ');
}

function setupQuickAdd() {
  const input = $('#new-task');
  const out = $('#quick-understood');
  let asked = 0;
  const preview = debounce(async () => {
    const text = input.value.trim();
    const mine = ++asked;
    if (!text) { out.textContent = ''; out.className = 'understood'; return; }
    try {
      const { understood } = await post(me('/tasks/quick/preview'), { text });
      if (mine !== asked) return;
      out.className = 'understood';
      out.textContent = `Will add: ${understoodText(understood)}`;
    } catch (err) {
      if (mine !== asked) return;
      out.className = 'understood error';
      out.textContent = err.message;
    }
  }, 250);
  input.addEventListener('input', preview);
  input.addEventListener('keydown', async (e) => {
    if (e.key !== 'Enter' || e.isComposing) return;
    e.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    preview.cancel();
    asked += 1;
    input.disabled = true;
    try {
      const { task, understood } = await post(me('/tasks/quick'), { text });
      input.value = '';
      out.className = 'understood';
      out.textContent = `Added: ${understoodText(understood)}`;
      if (!rows.has(task.id)) refreshTasks();
    } catch (err) {
      out.className = 'understood error';
      out.textContent = err.message;
    } finally {
      input.disabled = false;
      input.focus();
    }
  });
}

export function setupTasks() {
  setupQuickAdd();
  setupEditor();
  const f = $('#filters');
  f.addEventListener('submit', (e) => e.preventDefault());
  f.addEventListener('change', () => refreshTasks());
  f.search.addEventListener('input', debounce(refreshTasks, 250));
  f.tag.addEventListener('input', debounce(refreshTasks, 400));
  $('#more').addEventListener('click', loadMore);
  // Due-today and overdue change with the clock.
  setInterval(() => { for (const { li, task } of rows.values()) renderRow(li, task); }, 60000);
  window.addEventListener('pagehide', flushDeletes);
  document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'hidden') flushDeletes(); });
}
