// Live updates over Server-Sent Events (GET /api/sse/{user_id}). EventSource cannot send headers, so
// the token goes in `?token=` (which the websocket service accepts for this reason). EventSource
// resumes by itself with a Last-Event-ID header; when it gives up (e.g. the server restarted), we
// reopen it with `?last_event_id=` so nothing in between is missed.

import { session } from './api.js';

const TOPICS = ['task-created', 'task-updated', 'task-completed', 'task-deleted', 'reminder-due', 'resync'];
let source = null;
let lastId = null;
let retry = null;
let delay = 1000;

export function disconnectLive() {
  clearTimeout(retry);
  if (source) source.close();
  source = null;
  lastId = null;
}

/** Opens the stream for `base` (`/api/{user_id}`); `handle(topic, message)` gets each event. */
export function connectLive(base, handle) {
  disconnectLive();
  const open = () => {
    const s = session();
    if (!s) return;
    const userPath = base.replace(/^\/api\//, '');
    let url = `/api/sse/${userPath}?token=${encodeURIComponent(s.token)}`;
    if (lastId) url += `&last_event_id=${encodeURIComponent(lastId)}`;
    const es = new EventSource(url);
    source = es;
    es.onopen = () => { delay = 1000; document.body.dataset.live = 'on'; };
    for (const topic of TOPICS) {
      es.addEventListener(topic, (e) => {
        if (e.lastEventId) lastId = e.lastEventId;
        let message = null;
        try { message = JSON.parse(e.data); } catch { return; }
        handle(topic, message);
      });
    }
    es.onerror = () => {
      document.body.dataset.live = 'off';
      if (es.readyState === EventSource.CLOSED && source === es) {
        retry = setTimeout(open, delay);
        delay = Math.min(delay * 2, 30000);
      }
    };
  };
  open();
}
