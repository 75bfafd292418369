// Entry point: wires the socket, the model and the view, and owns the two
// user controls (filter, pause). Messages are applied to the model as they
// arrive (cheap) and drawn at most once per animation frame (the expensive
// part), so a burst of hundreds of messages costs one DOM update.

import { Model } from './model.js';
import { InspectorSocket } from './socket.js';
import { View } from './view.js';

/** While paused, messages wait here; past this many we stop buffering and ask for a fresh snapshot on resume. */
const PAUSE_BUFFER_MAX = 20_000;

// A token given as ?token= is now an HttpOnly cookie (the server set it with this page), which the
// browser sends with the WebSocket too: keep it out of the address bar and the history.
if (new URLSearchParams(location.search).has('token')) history.replaceState(null, '', location.pathname + location.hash);

const $ = (id) => document.getElementById(id);
const model = new Model();
const view = new View(model, {
  timelines: $('timelines'),
  empty: $('empty'),
  log: $('log'),
  logCount: $('log-count'),
  status: $('ws-status'),
  node: $('node'),
  statLive: $('stat-live'),
  statTimelines: $('stat-timelines'),
  statRate: $('stat-rate'),
});

/** Cost of drawing, for the curious and for tests (window.inspector.stats). */
const stats = { frames: 0, renderMs: 0, maxRenderMs: 0 };
let frameQueued = false;
function schedule() {
  if (frameQueued) return;
  frameQueued = true;
  requestAnimationFrame(() => {
    frameQueued = false;
    const t0 = performance.now();
    view.render();
    const dt = performance.now() - t0;
    stats.frames++;
    stats.renderMs += dt;
    if (dt > stats.maxRenderMs) stats.maxRenderMs = dt;
  });
}

/** One odd message must not take the page down: report it and carry on with the next. */
function apply(msg) {
  try {
    model.apply(msg);
  } catch (err) {
    console.error('inspector: could not apply a server message', msg && msg.type, err);
  }
}

// ---- pause / resume ----
const pause = { on: false, buffer: [], overflowed: false, dropped: 0, hello: null };
const pauseBtn = $('pause');
const pausebar = $('pausebar');

function showPause() {
  pauseBtn.textContent = pause.on ? 'Resume' : 'Pause';
  pauseBtn.setAttribute('aria-pressed', String(pause.on));
  document.body.classList.toggle('paused', pause.on);
  pausebar.hidden = !pause.on;
  if (pause.on) {
    pausebar.textContent = pause.overflowed
      ? `Paused · buffer full, ${pause.dropped.toLocaleString('en-US')} messages dropped — the page asks the server for a fresh snapshot on resume`
      : `Paused · ${pause.buffer.length.toLocaleString('en-US')} messages buffered, applied on resume`;
  }
}

function setPaused(on) {
  if (on === pause.on) return;
  pause.on = on;
  if (!on) {
    if (pause.hello) apply(pause.hello);
    if (pause.overflowed) {
      // The buffered tail is useless without what was dropped before it: start over from a snapshot.
      socket.send({ type: 'resync' });
    } else {
      for (const msg of pause.buffer) apply(msg);
    }
    pause.buffer = [];
    pause.overflowed = false;
    pause.dropped = 0;
    pause.hello = null;
    schedule();
  }
  showPause();
}

pauseBtn.addEventListener('click', () => setPaused(!pause.on));

// ---- filter ----
const filterInput = $('filter');
function applyFilter() {
  view.setFilter(filterInput.value);
  const v = filterInput.value.trim();
  history.replaceState(null, '', v ? `#filter=${encodeURIComponent(v)}` : location.pathname + location.search);
}
filterInput.addEventListener('input', applyFilter);
const fromHash = /(?:^#|&)filter=([^&]*)/.exec(location.hash);
if (fromHash) {
  filterInput.value = decodeURIComponent(fromHash[1]);
  view.setFilter(filterInput.value);
}

document.addEventListener('keydown', (e) => {
  if (e.target instanceof HTMLInputElement) {
    if (e.key === 'Escape') {
      filterInput.value = '';
      applyFilter();
      filterInput.blur();
    }
    return;
  }
  if (e.key === '/') {
    e.preventDefault();
    filterInput.focus();
  } else if (e.key === ' ' || e.key === 'p') {
    e.preventDefault();
    setPaused(!pause.on);
  }
});

// ---- socket ----
let received = 0;
let lastStatus = null;
const wsUrl = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
const socket = new InspectorSocket({
  url: wsUrl,
  onMessage(msg) {
    received++;
    if (pause.on) {
      if (msg && msg.type === 'hello') {
        pause.hello = msg;
      } else if (pause.overflowed) {
        pause.dropped++;
      } else if (pause.buffer.length >= PAUSE_BUFFER_MAX) {
        pause.dropped += pause.buffer.length + 1;
        pause.buffer = [];
        pause.overflowed = true;
      } else {
        pause.buffer.push(msg);
      }
      return;
    }
    apply(msg);
    schedule();
  },
  onStatus(s) {
    lastStatus = s;
    view.setStatus(s);
    document.body.dataset.ws = s.state;
  },
});
$('ws-status').addEventListener('click', () => socket.retryNow());
socket.start();

// Once a second: message rate, ages, WAL rates, retention of closed connections, retry countdown.
setInterval(() => {
  $('stat-rate').textContent = received.toLocaleString('en-US');
  received = 0;
  if (lastStatus && lastStatus.state === 'closed') view.setStatus(lastStatus);
  if (pause.on) {
    showPause();
    return;
  }
  model.prune();
  view.tick();
  schedule();
}, 1000);

// For tests and the curious: the live model, read-only by convention.
window.inspector = { model, view, socket, setPaused, stats };
