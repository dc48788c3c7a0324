// Live updates over Server-Sent Events (GET /api/sse/{user_id}). EventSource cannot send headers, and
// the long-lived access token must not go into a URL (proxies and browser history keep URLs), so each
// (re)connect first asks the API for a single-use, 60-second ticket (POST /api/{user_id}/stream-tickets)
// and opens the stream with `?ticket=`. EventSource's own auto-reconnect would reuse the spent ticket,
// so on any error we close it and reconnect ourselves, with a fresh ticket and `?last_event_id=` (a new
// EventSource cannot set the Last-Event-ID header), so nothing in between is missed.

import { post, session } from './api.js';

const TOPICS = ['task-created', 'task-updated', 'task-completed', 'task-deleted', 'reminder-due', 'resync'];
let source = null;
let lastId = null;
let retry = null;
let delay = 1000;
// Bumped by every connect and disconnect: a ticket that arrives for an older connection is dropped.
let generation = 0;

export function disconnectLive() {
  generation += 1;
  clearTimeout(retry);
  if (source) source.close();
  source = null;
  lastId = null;
}

/** Opens the stream for `base` (`/api/{user_id}`); `handle(topic, message)` gets each event. */
export function connectLive(base, handle) {
  disconnectLive();
  const mine = generation;
  const reconnect = () => {
    if (mine !== generation) return;
    clearTimeout(retry);
    retry = setTimeout(open, delay);
    delay = Math.min(delay * 2, 30000);
  };
  const open = async () => {
    if (mine !== generation || !session()) return;
    let ticket;
    try {
      ticket = (await post(`${base}/stream-tickets`)).ticket;
    } catch (e) {
      // 401 already ended the session (api.js); anything else (offline, 429, 503): try again later.
      if (e.status !== 401) reconnect();
      return;
    }
    if (mine !== generation) return;
    const userPath = base.replace(/^\/api\//, '');
    let url = `/api/sse/${userPath}?ticket=${encodeURIComponent(ticket)}`;
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
      if (source !== es) return;
      document.body.dataset.live = 'off';
      // Never let EventSource retry by itself: its ticket is spent.
      es.close();
      source = null;
      reconnect();
    };
  };
  open();
}
