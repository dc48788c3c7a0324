// Small DOM helpers: element building without innerHTML (nothing a user typed is ever parsed as HTML),
// and the toast region for messages and undo.

export const $ = (sel, root = document) => root.querySelector(sel);

/** h('button', {class: 'x', onclick: f}, 'text', child) */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Shows a message for a while; `action` adds a button (e.g. Undo); `dismissed` runs when the ✕ is
 * pressed (not when it times out or the action runs). Returns a function that removes it. */
export function toast(message, { action, dismissed, kind = 'info', timeout = 5000 } = {}) {
  const box = h('div', { class: `toast ${kind}` }, h('span', {}, message));
  let timer;
  const close = () => { clearTimeout(timer); box.remove(); };
  if (action) {
    box.append(h('button', { type: 'button', class: 'link', onclick: () => { close(); action.run(); } }, action.label));
  }
  box.append(h('button', { type: 'button', class: 'link', 'aria-label': 'Dismiss', onclick: () => { close(); if (dismissed) dismissed(); } }, '✕'));
  $('#toasts').append(box);
  timer = setTimeout(close, timeout);
  return close;
}

/** Shows an API or network error in words. */
export function showError(err) {
  toast(err && err.message ? err.message : String(err), { kind: 'error', timeout: 8000 });
}

/** Calls `fn` once `ms` have passed without another call; `.cancel()` drops a pending call. */
export function debounce(fn, ms) {
  let t;
  const call = (...args) => { clearTimeout(t); t = setTimeout(() => fn(...args), ms); };
  call.cancel = () => clearTimeout(t);
  return call;
}
