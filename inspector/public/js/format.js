// Formatting helpers shared by the views. Pure functions, no DOM.

/** `X/Y` LSN text to a BigInt (0n for anything unparsable: the page must never throw on a bad value). */
export function lsnToBig(text) {
  if (typeof text !== 'string') return 0n;
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text);
  if (!m) return 0n;
  return (BigInt('0x' + m[1]) << 32n) | BigInt('0x' + m[2]);
}

/** Wall-clock time of day with milliseconds, local time: 14:03:07.215 */
export function clock(ms) {
  const d = new Date(ms);
  const p2 = (n) => String(n).padStart(2, '0');
  return `${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

/** Byte counts for humans: 0 B, 812 B, 12.4 KiB, 3.07 MiB. */
export function bytes(n) {
  const v = typeof n === 'bigint' ? Number(n) : n;
  if (!Number.isFinite(v)) return '—';
  const abs = Math.abs(v);
  if (abs < 1024) return `${v} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let x = v / 1024;
  let i = 0;
  while (Math.abs(x) >= 1024 && i < units.length - 1) {
    x /= 1024;
    i++;
  }
  return `${x.toFixed(Math.abs(x) < 10 ? 2 : Math.abs(x) < 100 ? 1 : 0)} ${units[i]}`;
}

/** Rate in bytes per second, compact. */
export function rate(bytesPerSec) {
  if (!Number.isFinite(bytesPerSec) || bytesPerSec <= 0) return '0 B/s';
  return `${bytes(Math.round(bytesPerSec))}/s`;
}

/** "3 s", "2 min", "1 h" ago, for retention hints. */
export function ago(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  return `${Math.floor(s / 3600)} h`;
}

/**
 * A readable name for an xstate event type: the generated names of invoke
 * completions and delayed events are long and carry ids that mean nothing to a reader.
 */
export function eventLabel(event, guard) {
  if (typeof event !== 'string' || event === '' || event === 'always' || event === 'xstate.always') {
    return guard ? guard : 'always';
  }
  if (event.startsWith('xstate.done.actor.') || event === 'BATCH_DONE') return 'done';
  if (event === 'BATCH_FAILED') return 'failed';
  if (event.startsWith('xstate.error.actor.')) return 'error';
  if (event.startsWith('xstate.done.state.')) return 'done';
  if (event.startsWith('xstate.after.')) {
    const delay = event.slice('xstate.after.'.length).split('.')[0];
    return /^\d+$/.test(delay) ? `after ${delay} ms` : `after ${delay}`;
  }
  if (event === 'xstate.init') return 'init';
  if (event === 'xstate.stop') return 'stop';
  return event;
}

/** Tenant/timeline ids are 32 hex chars: show the head, keep the whole in a tooltip. */
export function shortId(id, n = 8) {
  if (typeof id !== 'string') return '';
  return id.length > n + 1 ? id.slice(0, n) + '…' : id;
}

/** The top-level state of a dotted state path. */
export function topState(path) {
  if (typeof path !== 'string') return '';
  const dot = path.indexOf('.');
  return dot < 0 ? path : path.slice(0, dot);
}

export function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}
