// The assistant panel: one turn per message, streamed from POST /api/{user_id}/chat/stream (Server-
// Sent Events over fetch, since EventSource cannot POST): `delta` text as it comes, `tool_call` as
// each tool finishes (shown, with what it did), then `done` with the conversation id. A deletion comes
// as a proposal with Confirm / Cancel buttons: only Confirm (POST …/chat/confirm) deletes.

import { $, h, showError } from './dom.js';
import { session, me, post, ApiError, unauthorized } from './api.js';
import { panel } from './inbox.js';

let conversation = null;

function bubble(who, text) {
  const el = h('div', { class: `msg ${who}` }, h('span', { class: 'who visually-hidden' }, who === 'me' ? 'You: ' : 'Assistant: '), h('span', { class: 'text' }, text));
  const log = $('#chat-log');
  log.append(el);
  log.scrollTop = log.scrollHeight;
  return el;
}

/** A deletion the assistant proposed: nothing happens until the user presses Confirm. */
function confirmation(proposal) {
  const status = h('span', { class: 'confirm-status' });
  const buttons = [];
  const settle = (text) => { buttons.forEach((b) => { b.disabled = true; }); status.textContent = text; };
  const yes = h('button', { type: 'button', class: 'danger', onclick: async () => {
    settle('Deleting…');
    try {
      const done = await post(me('/chat/confirm'), { confirmation: proposal.id });
      settle(done.response);
    } catch (err) {
      settle(`⚠️ ${err.message}`);
    }
  } }, 'Confirm');
  const no = h('button', { type: 'button', onclick: () => settle('Cancelled; nothing was deleted.') }, 'Cancel');
  buttons.push(yes, no);
  return h('div', { class: 'confirm', role: 'group', 'aria-label': 'Confirm deletion' },
    h('span', {}, `🗑️ Delete “${proposal.task?.title ?? 'this task'}”?`), yes, no, status);
}

function toolCall(call) {
  const result = call.result || {};
  if (result.confirmation_required?.id) return confirmation(result.confirmation_required);
  const failed = result.error;
  const what = failed ? `⚠️ ${failed.message}` : (result.task ? `“${result.task.title}”` : (Array.isArray(result.tasks) ? `${result.count ?? result.tasks.length} task(s)` : 'done'));
  return h('details', { class: `tool ${failed ? 'failed' : ''}` },
    h('summary', {}, `🔧 ${call.name} — ${what}`),
    h('pre', {}, JSON.stringify(call.arguments, null, 2)));
}

/** Reads an SSE body: calls `on(event, data)` for each frame. */
async function readEvents(res, on) {
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf('\n\n')) >= 0) {
      const frame = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let event = 'message';
      const data = [];
      for (const line of frame.split('\n')) {
        if (line.startsWith('event:')) event = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
      }
      if (data.length) {
        let parsed = null;
        try { parsed = JSON.parse(data.join('\n')); } catch { parsed = null; }
        on(event, parsed);
      }
    }
  }
}

async function send(message) {
  bubble('me', message);
  const reply = bubble('bot', '');
  reply.classList.add('streaming');
  const text = reply.querySelector('.text');
  const form = $('#chat-form');
  form.querySelector('button').disabled = true;
  try {
    const res = await fetch(me('/chat/stream'), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream', Authorization: `Bearer ${session().token}` },
      body: JSON.stringify(conversation ? { message, conversation_id: conversation } : { message }),
    });
    if (!res.ok) {
      const body = await res.json().catch(() => ({}));
      const e = body.error || {};
      if (res.status === 404 && conversation) conversation = null;
      if (res.status === 401) unauthorized();
      throw new ApiError(res.status, e.code, e.message || `The server answered ${res.status}.`);
    }
    await readEvents(res, (event, data) => {
      if (event === 'delta' && data) text.textContent += data.text;
      else if (event === 'tool_call' && data) reply.insertBefore(toolCall(data), text);
      else if (event === 'done' && data) {
        conversation = data.conversation_id;
        if (!text.textContent) text.textContent = data.response;
      } else if (event === 'error' && data) text.textContent = `⚠️ ${data.error.message}`;
    });
  } catch (err) {
    text.textContent = `⚠️ ${err.message}`;
    if (err.status === 0 || err.status === undefined) showError(err);
  } finally {
    reply.classList.remove('streaming');
    $('#chat-log').scrollTop = $('#chat-log').scrollHeight;
    form.querySelector('button').disabled = false;
  }
}

export function setupChat() {
  panel('chat', $('#open-chat'), '#chat-input');
  const input = $('#chat-input');
  const submit = () => {
    const message = input.value.trim();
    if (!message) return;
    input.value = '';
    send(message);
  };
  $('#chat-form').addEventListener('submit', (e) => { e.preventDefault(); submit(); });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); submit(); }
  });
  $('#chat-new').addEventListener('click', () => {
    conversation = null;
    $('#chat-log').replaceChildren();
    input.focus();
  });
  bubble('bot', 'Hi! Ask me to add, find, complete or move tasks — “what’s due this week?”');
}
