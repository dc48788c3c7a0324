// The notifications inbox: fired reminders with an unread count, mark one read, mark all read. A
// reminder-due event from the live stream refreshes it and says so.

import { $, h, toast, showError } from './dom.js';
import { get, post, request, me } from './api.js';
import { friendly } from './time.js';

async function markRead(id) {
  try {
    await request('PATCH', me(`/notifications/${id}/read`));
    await refreshInbox();
  } catch (err) { showError(err); }
}

function item(n) {
  return h('li', { class: `note ${n.read_at ? 'read' : 'unread'}` },
    h('div', { class: 'body' },
      h('strong', {}, n.title),
      h('span', { class: 'muted small' }, `${n.kind === 'due_soon' ? 'Due soon' : 'Reminder'} · ${friendly(n.created_at)}${n.late ? ' · late' : ''}`),
      n.message ? h('span', { class: 'small' }, n.message) : null),
    n.read_at ? h('span', { class: 'muted small' }, 'Read')
      : h('button', { type: 'button', class: 'ghost', 'aria-label': `Mark read: ${n.title}`, onclick: () => markRead(n.id) }, 'Mark read'));
}

export async function refreshInbox() {
  try {
    const page = await get(me('/notifications?limit=50'));
    const unread = page.notifications.filter((n) => !n.read_at).length;
    const badge = $('#unread');
    badge.hidden = unread === 0;
    badge.textContent = unread > 49 ? '50+' : String(unread);
    $('#open-inbox').setAttribute('aria-label', `Notifications, ${unread} unread`);
    $('#notifications').replaceChildren(...(page.notifications.length
      ? page.notifications.map(item)
      : [h('li', { class: 'muted empty' }, 'No notifications yet. Reminders you set show up here.')]));
    $('#read-all').disabled = unread === 0;
  } catch (err) {
    showError(err);
  }
}

export function onReminder(message) {
  const task = message && message.data && message.data.task;
  if (task) toast(`⏰ Reminder: ${task.title}`, { timeout: 10000 });
  refreshInbox();
}

/** Opens/closes a side panel with its toggle button; Escape closes it and returns focus. */
export function panel(id, button, focusSel) {
  const el = $(`#${id}`);
  const set = (open) => {
    el.hidden = !open;
    button.setAttribute('aria-expanded', String(open));
    if (open) $(focusSel, el).focus(); else button.focus();
  };
  button.addEventListener('click', () => set(el.hidden));
  el.addEventListener('keydown', (e) => { if (e.key === 'Escape') set(false); });
  el.querySelector('[data-close]').addEventListener('click', () => set(false));
  return set;
}

export function setupInbox() {
  panel('inbox', $('#open-inbox'), '[data-close]');
  $('#open-inbox').addEventListener('click', () => { if (!$('#inbox').hidden) refreshInbox(); });
  $('#read-all').addEventListener('click', async () => {
    try {
      await post(me('/notifications/read-all'));
      await refreshInbox();
      $('[data-close=inbox]').focus();
    } catch (err) { showError(err); }
  });
}
