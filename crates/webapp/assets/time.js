// Dates in the user's profile time zone (not the browser's): display, "today"/"overdue", and the
// conversion between <input type=datetime-local> values and UTC instants, with Intl only.

let zone = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
export const setZone = (tz) => { zone = tz || 'UTC'; };
export const browserZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';

function parts(date) {
  const f = new Intl.DateTimeFormat('en-US', {
    timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
  });
  const o = {};
  for (const p of f.formatToParts(date)) o[p.type] = p.value;
  return o;
}

/** "2026-12-05" in the user's zone. */
export function localDay(date) {
  const p = parts(date);
  return `${p.year}-${p.month}-${p.day}`;
}

/** The value for a datetime-local input. */
export function toInput(iso) {
  if (!iso) return '';
  const p = parts(new Date(iso));
  return `${p.year}-${p.month}-${p.day}T${p.hour}:${p.minute}`;
}

/** A datetime-local value read in the user's zone → RFC 3339 UTC. */
export function fromInput(value) {
  if (!value) return null;
  const [d, t] = value.split('T');
  const [y, mo, da] = d.split('-').map(Number);
  const [hh, mi] = t.split(':').map(Number);
  const wall = Date.UTC(y, mo - 1, da, hh, mi);
  let guess = wall;
  for (let i = 0; i < 2; i += 1) {
    const p = parts(new Date(guess));
    const shown = Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute);
    guess += wall - shown;
  }
  return new Date(guess).toISOString();
}

/** "Today 09:00", "Tomorrow 23:59", "Fri 5 Dec 17:00", with the year when not this year. */
export function friendly(iso) {
  const d = new Date(iso);
  const now = new Date();
  const day = localDay(d);
  const time = new Intl.DateTimeFormat(undefined, { timeZone: zone, hour: 'numeric', minute: '2-digit' }).format(d);
  if (day === localDay(now)) return `Today ${time}`;
  if (day === localDay(new Date(now.getTime() + 86400000))) return `Tomorrow ${time}`;
  if (day === localDay(new Date(now.getTime() - 86400000))) return `Yesterday ${time}`;
  const sameYear = day.slice(0, 4) === localDay(now).slice(0, 4);
  return new Intl.DateTimeFormat(undefined, {
    timeZone: zone, weekday: 'short', day: 'numeric', month: 'short', year: sameYear ? undefined : 'numeric', hour: '2-digit', minute: '2-digit',
  }).format(d);
}

/** 'overdue', 'today' or '' for a task. */
export function urgency(task) {
  if (!task.due_at || task.completed) return '';
  const due = new Date(task.due_at);
  if (due < new Date()) return 'overdue';
  return localDay(due) === localDay(new Date()) ? 'today' : '';
}
