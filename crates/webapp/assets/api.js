// The public REST API, as any frontend uses it: a bearer token from /api/auth/login, JSON bodies,
// and the standard error shape {"error": {code, message, field}} turned into ApiError.

const KEY = 'taskflow.session';

export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

/** The stored session ({token, user}) or null. */
export function session() {
  try { return JSON.parse(localStorage.getItem(KEY)); } catch { return null; }
}

export function saveSession(s) {
  if (s) localStorage.setItem(KEY, JSON.stringify(s)); else localStorage.removeItem(KEY);
}

/** Called with no arguments when the server answers 401: the app returns to sign-in. */
let onUnauthorized = () => {};
export function whenUnauthorized(fn) { onUnauthorized = fn; }
/** For requests made without `request` (the chat stream): a 401 ends the session the same way. */
export function unauthorized() { onUnauthorized(); }

export async function request(method, path, body, headers = {}) {
  const s = session();
  const h = { Accept: 'application/json', ...headers };
  if (s && s.token) h.Authorization = `Bearer ${s.token}`;
  if (body !== undefined) h['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, 'network', 'Cannot reach TaskFlow. Check your connection and try again.');
  }
  if (res.status === 204) return { data: null, res };
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!res.ok) {
    const e = (data && data.error) || {};
    if (res.status === 401 && s && s.token && !path.startsWith('/api/auth/login')) onUnauthorized();
    throw new ApiError(res.status, e.code || 'http', e.message || `The server answered ${res.status}.`, e.field);
  }
  return { data, res };
}

export const get = async (path) => (await request('GET', path)).data;
export const post = async (path, body) => (await request('POST', path, body)).data;
export const del = async (path) => (await request('DELETE', path)).data;

/** `/api/{user_id}` + rest, for the signed-in user. */
export function me(rest) {
  const s = session();
  return `/api/${encodeURIComponent(s.user.id)}${rest}`;
}
