// DOM for the model: timeline groups, connection cards with their charts,
// the event log and the header. Keyed elements are created once and then
// only patched; render() is called at most once per animation frame and
// touches only what the model marked dirty.

import { ChartView, chartSvg, eventLabels, layoutChart, toneOf } from './chart.js';
import { ago, bytes, clock, escapeHtml, eventLabel, lsnToBig, rate, shortId, topState } from './format.js';
import { connKey } from './model.js';

const LOG_ROWS = 300;
/** Closed cards fold to a single line this long after closing (click to unfold). */
const FOLD_AFTER_MS = 5000;

function el(tag, cls, html) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (html !== undefined) e.innerHTML = html;
  return e;
}

function setText(node, text) {
  const t = String(text);
  if (node.textContent !== t) node.textContent = t;
}

/** The parts of a `tenant/timeline` id. */
function splitTtid(ttid) {
  const i = ttid.indexOf('/');
  return i < 0 ? [ttid, ''] : [ttid.slice(0, i), ttid.slice(i + 1)];
}

export class View {
  constructor(model, dom) {
    this.model = model;
    this.dom = dom; // {timelines, empty, log, logCount, status, node, statLive, statTimelines, statRate, pausebar}
    this.groupEls = new Map(); // ttid -> {root, conns, slots, computes, count}
    this.cardEls = new Map(); // uid -> card refs
    this.chartMarkup = null;
    this.filter = '';
    this.eventNames = new Map();
    this.rows = new WeakMap(); // log entry -> its row
  }

  setFilter(text) {
    this.filter = text.trim().toLowerCase();
    for (const [ttid, g] of this.groupEls) g.root.hidden = !this.matches(ttid);
    for (const row of this.dom.log.children) row.hidden = !this.matches(row.dataset.ttid ?? '');
    this.updateEmpty();
  }

  matches(ttid) {
    if (!this.filter) return true;
    return ttid.toLowerCase().includes(this.filter);
  }

  /** Draws whatever the model marked dirty. */
  render() {
    const m = this.model;
    const d = m.dirty;
    if (d.chart) {
      // One drawing per kind of card: walproposer connections and WAL senders have their own charts.
      this.chartMarkup = {
        connection: m.charts.connection ? chartSvg(layoutChart(m.charts.connection)) : null,
        sender: m.charts.sender ? chartSvg(layoutChart(m.charts.sender)) : null,
      };
      this.eventNames = new Map([...eventLabels(m.charts.connection), ...(m.charts.sender ? eventLabels(m.charts.sender) : [])]);
      for (const card of this.cardEls.values()) this.mountChart(card);
      d.chart = false;
    }
    if (d.structure) {
      this.renderStructure();
      d.structure = false;
    }
    if (d.registries) {
      for (const [ttid, g] of this.groupEls) this.renderRegistry(g, m.registries.get(ttid) ?? null, ttid);
      d.registries = false;
    }
    for (const uid of d.conns) {
      const c = m.conns.get(uid);
      const card = this.cardEls.get(uid);
      if (c && card) this.renderCard(card, c);
    }
    d.conns.clear();
    if (d.logReset) {
      this.dom.log.textContent = '';
      this.rows = new WeakMap();
      this.appendLog(m.log.slice(-LOG_ROWS));
      m.newLog = [];
      d.logReset = false;
    } else if (m.newLog.length > 0) {
      this.appendLog(m.newLog.slice(-LOG_ROWS));
      m.newLog = [];
    }
    if (d.header) {
      setText(this.dom.node, `${m.nodeId !== null ? `node ${m.nodeId}` : 'node —'}${m.rootState ? ` · ${m.rootState}` : ''}`);
      this.dom.node.dataset.root = m.rootState ?? '';
      d.header = false;
    }
  }

  renderStructure() {
    const groups = this.model.groups();
    const seenGroups = new Set();
    const seenCards = new Set();
    let live = 0;
    groups.forEach((g, gi) => {
      seenGroups.add(g.ttid);
      let ge = this.groupEls.get(g.ttid);
      if (!ge) {
        ge = this.createGroup(g.ttid);
        this.groupEls.set(g.ttid, ge);
        this.renderRegistry(ge, g.registry, g.ttid);
      }
      const there = this.dom.timelines.children[gi];
      if (there !== ge.root) this.dom.timelines.insertBefore(ge.root, there ?? null);
      ge.root.hidden = !this.matches(g.ttid);
      let liveHere = 0;
      g.conns.forEach((c, i) => {
        seenCards.add(c.uid);
        let card = this.cardEls.get(c.uid);
        if (!card) {
          card = this.createCard(c);
          this.cardEls.set(c.uid, card);
          this.renderCard(card, c);
        }
        // Move a card only when it is out of place: a moved node restarts its animations.
        const here = ge.conns.children[i];
        if (here !== card.root) ge.conns.insertBefore(card.root, here ?? null);
        if (c.closedLocal === null) liveHere++;
      });
      live += liveHere;
      const closedHere = g.conns.length - liveHere;
      setText(ge.count, `${liveHere} live${closedHere ? ` · ${closedHere} closed` : ''}`);
    });
    for (const [uid, card] of this.cardEls) {
      if (!seenCards.has(uid)) {
        card.root.remove();
        this.cardEls.delete(uid);
      }
    }
    for (const [ttid, ge] of this.groupEls) {
      if (!seenGroups.has(ttid)) {
        ge.root.remove();
        this.groupEls.delete(ttid);
      }
    }
    setText(this.dom.statLive, live);
    setText(this.dom.statTimelines, groups.length);
    this.updateEmpty();
  }

  updateEmpty() {
    const any = [...this.groupEls.values()].some((g) => !g.root.hidden);
    this.dom.empty.hidden = any;
    if (!any) {
      this.dom.empty.querySelector('.empty-title').textContent =
        this.groupEls.size > 0 ? 'Nothing matches the filter' : 'No connections yet';
    }
  }

  createGroup(ttid) {
    const [tenant, timeline] = splitTtid(ttid);
    const root = el('section', 'tl');
    root.dataset.ttid = ttid;
    root.innerHTML = `
      <header class="tl-head">
        <div class="tl-ids">
          <span class="k">tenant</span><code class="id" title="${escapeHtml(tenant)}">${escapeHtml(shortId(tenant, 12))}</code>
          ${timeline ? `<span class="k">timeline</span><code class="id" title="${escapeHtml(timeline)}">${escapeHtml(shortId(timeline, 12))}</code>` : ''}
          <span class="tl-count"></span>
        </div>
        <div class="tl-registry">
          <span class="mconf" title="membership configuration"></span>
          <span class="k">walreceivers</span>
          <span class="slots"></span>
          <span class="computes"></span>
        </div>
      </header>
      <div class="conns"></div>`;
    return {
      root,
      conns: root.querySelector('.conns'),
      slots: root.querySelector('.slots'),
      computes: root.querySelector('.computes'),
      mconf: root.querySelector('.mconf'),
      count: root.querySelector('.tl-count'),
      lastSlots: '',
    };
  }

  renderRegistry(g, r, ttid) {
    void ttid;
    const slots = r ? r.slots : [];
    const key = JSON.stringify(slots) + (r ? r.computes : '-') + JSON.stringify(r?.mconf ?? null);
    if (key === g.lastSlots) return;
    g.lastSlots = key;
    if (!r) {
      g.slots.innerHTML = '<span class="slot none">no registry</span>';
      setText(g.computes, '');
      return;
    }
    g.slots.innerHTML =
      slots.length === 0
        ? '<span class="slot none">none</span>'
        : slots
            .map((s, i) =>
              s
                ? `<span class="slot ${s.status === 'Streaming' ? 'streaming' : 'voting'}" title="slot ${i}: ${s.connId === null ? 'peer recovery' : `conn ${s.connId}`} ${s.status}"><b>${i}</b>${s.connId === null ? 'recovery' : `conn ${s.connId}`}<i>${s.status}</i></span>`
                : `<span class="slot free" title="slot ${i}: free"><b>${i}</b>free</span>`,
            )
            .join('');
    setText(g.computes, `${r.computes} compute${r.computes === 1 ? '' : 's'}`);
    const m = r.mconf;
    setText(
      g.mconf,
      !m || m.generation === 0
        ? 'no generation'
        : `gen ${m.generation}: ${m.members.join(', ')}${m.newMembers ? ` → ${m.newMembers.join(', ')}` : ''}`,
    );
  }

  createCard(c) {
    const root = el('article', 'conn');
    root.dataset.uid = c.uid;
    root.dataset.actorId = c.id;
    root.innerHTML = `
      <header class="conn-head">
        <span class="conn-name"></span>
        <span class="proto" title="protocol version · membership generation"></span>
        <span class="badge"></span>
        <span class="peer"></span>
        <span class="kids"><i class="kid" data-kind="reader" title="reader actor">reader</i><i class="kid" data-kind="writer" title="writer actor">writer</i><i class="kid" data-kind="processor" title="processor actor: runs the batches">processor</i></span>
        <span class="summary"></span>
        <span class="age"></span>
      </header>
      <div class="conn-body">
        <dl class="metrics">
          <div class="m m-term"><dt>term</dt><dd></dd></div>
          <div class="m m-flush"><dt>flush lsn</dt><dd></dd></div>
          <div class="m m-commit"><dt>commit lsn</dt><dd></dd></div>
          <div class="m m-lag"><dt>commit lag</dt><dd></dd></div>
          <div class="m m-queue"><dt>queue</dt><dd></dd></div>
          <div class="m m-msgs"><dt>messages</dt><dd></dd></div>
          <div class="m m-rate"><dt>wal rate</dt><dd></dd></div>
        </dl>
        <div class="chart-wrap"></div>
      </div>
      <footer class="conn-foot">
        <ol class="trail"></ol>
        <div class="err"></div>
      </footer>`;
    const q = (s) => root.querySelector(s);
    q('.conn-head').addEventListener('click', () => {
      if (!root.classList.contains('closed')) return;
      card.expanded = !root.classList.contains('folded') ? false : true;
      const c = this.model.conns.get(root.dataset.uid);
      if (c) this.renderCard(card, c);
    });
    const card = {
      root,
      name: q('.conn-name'),
      proto: q('.proto'),
      badge: q('.badge'),
      peer: q('.peer'),
      kids: [...root.querySelectorAll('.kid')],
      age: q('.age'),
      term: q('.m-term dd'),
      flush: q('.m-flush dd'),
      commit: q('.m-commit dd'),
      lag: q('.m-lag dd'),
      queue: q('.m-queue dd'),
      msgs: q('.m-msgs dd'),
      rate: q('.m-rate dd'),
      chartWrap: q('.chart-wrap'),
      trail: q('.trail'),
      err: q('.err'),
      summary: q('.summary'),
      expanded: false,
      chart: null,
      trailKey: '',
      last: {},
    };
    card.kind = c.kind ?? 'connection';
    root.dataset.kind = card.kind;
    if (card.kind === 'sender') {
      // Its numbers mean other things; its children are a streamer and a client reader.
      const label = (cls, text) => setText(root.querySelector(`.${cls} dt`), text);
      label('m-term', 'mode');
      label('m-flush', 'sent up to');
      label('m-commit', 'end of WAL');
      label('m-lag', 'behind');
      label('m-queue', 'client');
      label('m-msgs', 'started at');
      root.querySelector('.kids').hidden = true;
    }
    this.mountChart(card);
    return card;
  }

  mountChart(card) {
    const markup = this.chartMarkup?.[card.kind] ?? null;
    if (!markup) {
      card.chartWrap.innerHTML = '<div class="no-chart">waiting for the chart definition…</div>';
      card.chart = null;
      return;
    }
    card.chartWrap.innerHTML = markup;
    card.chart = new ChartView(card.chartWrap.querySelector('svg'));
    card.chart.current = undefined; // force the next setState to paint
  }

  renderCard(card, c) {
    const def = this.model.charts[c.kind] ?? this.model.charts.connection;

    const ctx = c.ctx ?? {};
    const closed = c.closedLocal !== null;
    const root = card.root;
    const tone = toneOf(def, c.state);
    if (card.last.tone !== tone) {
      if (card.last.tone) root.classList.remove(card.last.tone);
      root.classList.add(tone);
      card.last.tone = tone;
    }
    root.classList.toggle('closed', closed);
    // A closed card keeps its chart for a few seconds (the last transition stays visible), then folds to one line.
    const folded = closed && !card.expanded && this.model.now() - c.closedLocal > FOLD_AFTER_MS;
    root.classList.toggle('folded', folded);
    root.classList.toggle('failed', closed && !!ctx.error);
    root.dataset.state = c.state;
    root.dataset.status = closed ? 'closed' : c.status;
    root.dataset.visited = [...c.visits.keys()].join(' ');
    if (typeof ctx.connId === 'number') root.dataset.connId = String(ctx.connId);
    root.dataset.ttid = connKey(c.ctx);

    setText(card.name, typeof ctx.connId === 'number' ? `${c.kind === 'sender' ? 'sender · conn' : 'conn'} ${ctx.connId}` : c.id);
    const [top, ...sub] = (c.state || '—').split('.');
    const badgeText = sub.length ? `${top} · ${sub.join('.')}` : top;
    if (card.last.badge !== badgeText) {
      card.badge.className = `badge ${toneOf(def, c.state)}`;
      setText(card.badge, badgeText);
      card.last.badge = badgeText;
    }
    setText(card.peer, ctx.peer ?? '');
    setText(card.proto, typeof ctx.protocolVersion === 'number' ? `v${ctx.protocolVersion} · gen ${ctx.generation ?? 0}` : '');
    for (const k of card.kids) {
      const status = c.children.get(k.dataset.kind);
      k.className = `kid ${status === undefined ? 'unknown' : status === 'active' ? 'on' : 'off'}`;
    }
    setText(card.age, closed ? `closed ${ago(this.model.now() - c.closedLocal)} ago` : `up ${ago(Date.now() - this.model.serverClockOffset - c.spawnedAt)}`);

    if (c.kind === 'sender') {
      // A WAL sender: how it reads, how far it got, and how far it may go.
      this.metric(card, 'term', card.term, ctx.mode === 'flush' ? `flush · term ${ctx.term}` : 'commit');
      this.metric(card, 'flush', card.flush, ctx.pos ?? '—');
      this.metric(card, 'commit', card.commit, ctx.endPos ?? '—');
      const behind = ctx.pos && ctx.endPos ? lsnToBig(ctx.endPos) - lsnToBig(ctx.pos) : null;
      this.metric(card, 'lag', card.lag, behind === null ? '—' : bytes(behind < 0n ? 0n : behind), true);
      this.metric(card, 'queue', card.queue, ctx.appName ?? '—', true);
      this.metric(card, 'msgs', card.msgs, ctx.startLsn ?? '—', true);
      setText(card.summary, closed ? `sent up to ${ctx.pos ?? '?'} · ${ctx.reason ?? 'ended'}` : '');
    } else {
      this.metric(card, 'term', card.term, ctx.term ?? '—');
      this.metric(card, 'flush', card.flush, ctx.flushLsn ?? '—');
      this.metric(card, 'commit', card.commit, ctx.commitLsn ?? '—');
      const lag = ctx.flushLsn && ctx.commitLsn ? lsnToBig(ctx.flushLsn) - lsnToBig(ctx.commitLsn) : null;
      this.metric(card, 'lag', card.lag, lag === null ? '—' : bytes(lag < 0n ? 0n : lag), true);
      this.metric(card, 'queue', card.queue, ctx.queueDepth ?? '—', true);
      this.metric(card, 'msgs', card.msgs, typeof ctx.processed === 'number' ? ctx.processed.toLocaleString('en-US') : '—', true);
      setText(card.summary, closed ? `term ${ctx.term ?? '?'} · flush ${ctx.flushLsn ?? '?'} · commit ${ctx.commitLsn ?? '?'}` : '');
    }
    setText(card.rate, closed ? '—' : rate(this.model.rateOf(c)));

    if (card.chart) {
      card.chart.setState(c.state, new Set(c.visits.keys()));
      // Only the newest few transitions of a frame are worth animating; older ones would be invisible anyway.
      for (const t of c.flashes.slice(-2)) card.chart.flash(t.from, t.to);
      if (c.busy && !closed) card.chart.pulseSiblings(c.state);
    }
    c.flashes.length = 0;
    c.busy = false;

    const trailKey = `${c.entries}:${c.lastTop}`;
    if (trailKey !== card.trailKey) {
      card.trailKey = trailKey;
      this.renderTrail(card, c, def);
    }
    const err = ctx.error ?? (ctx.reason === 'error' ? ctx.message : '') ?? '';
    setText(card.err, err ? `error: ${err}` : '');
    card.err.hidden = !err;
  }

  /** Values flash briefly when they change, so movement is visible at a glance. */
  metric(card, name, node, value, quiet = false) {
    const text = String(value);
    if (card.last[name] === text) return;
    const had = card.last[name] !== undefined;
    card.last[name] = text;
    setText(node, text);
    // A brief brightening on change, at most once a second per value (fast counters would just flicker).
    const now = performance.now();
    if (had && !quiet && now - (card.last[`${name}@`] ?? -1e9) > 1000) {
      card.last[`${name}@`] = now;
      node.animate([{ color: '#ffffff' }, {}], { duration: 700, easing: 'ease-out' });
    }
  }

  /** Visited states in first-visit order, with how often each was entered. */
  renderTrail(card, c, def) {
    const current = topState(c.state);
    // Joined late: the path before the oldest history the server kept is unknown.
    const initial = def?.initial ?? def?.states?.[0]?.path;
    const partial = initial && c.visits.size > 0 && !c.visits.has(initial);
    card.trail.innerHTML = (partial ? '<li class="step unknown" title="earlier history not seen by this page">…</li><li class="sep" aria-hidden="true">›</li>' : '') + [...c.visits.values()]
      .map((v, i) => {
        const title = `first entered ${typeof v.first === 'number' ? clock(v.first) : '?'}${v.count > 1 ? `, entered ${v.count}×` : ''}`;
        return `${i ? '<li class="sep" aria-hidden="true">›</li>' : ''}<li class="step ${toneOf(def, v.state)}${v.state === current ? ' now' : ''}" data-state="${escapeHtml(v.state)}" title="${title}">${escapeHtml(v.state)}${v.count > 1 ? `<span class="times">×${v.count}</span>` : ''}</li>`;
      })
      .join('');
  }

  appendLog(entries) {
    if (entries.length === 0) return;
    const def = this.model.charts.connection;
    const frag = document.createDocumentFragment();
    // Newest first: the latest entry goes on top. A folded cycle row may come more than once
    // in one batch; it is drawn once, at its newest position.
    const done = new Set();
    for (let i = entries.length - 1; i >= 0; i--) {
      const e = entries[i];
      if (done.has(e)) continue;
      done.add(e);
      let li = this.rows.get(e);
      if (li) li.remove();
      li = this.logRow(e, def, li);
      this.rows.set(e, li);
      frag.appendChild(li);
    }
    this.dom.log.insertBefore(frag, this.dom.log.firstChild);
    while (this.dom.log.childElementCount > LOG_ROWS) this.dom.log.lastElementChild.remove();
    setText(this.dom.logCount, `${this.model.log.length} kept`);
  }

  logRow(e, def, reuse) {
    const li = reuse ?? el('li');
    li.className = `ev ev-${e.kind}`;
    li.dataset.ttid = e.ttid ?? '';
    if (e.id) li.dataset.actor = e.id;
    const who = `<span class="who">${escapeHtml(e.id ? e.id.replace(/^registry-.*/, 'registry') : 'page')}</span>`;
    const state = (p) => {
      const [t, ...rest] = String(p || '∅').split('.');
      return `<span class="sp ${toneOf(def, t)}">${escapeHtml(t)}</span>${rest.length ? `<span class="sub">.${escapeHtml(rest.join('.'))}</span>` : ''}`;
    };
    const ctx = e.term !== undefined ? `<span class="ctx">term ${escapeHtml(e.term)} · flush ${escapeHtml(e.flushLsn ?? '')}</span>` : '';
    let what;
    if (e.kind === 'transition') {
      li.dataset.from = e.from;
      li.dataset.to = e.to;
      const name = this.eventNames.get(e.event) ?? eventLabel(e.event);
      what = `<span class="tr">${state(e.from)}<span class="arrow">→</span>${state(e.to)}</span><span class="meta">${who}<span class="on">${escapeHtml(name)}</span>${ctx}</span>`;
    } else if (e.kind === 'cycle') {
      li.dataset.pair = e.pair.join(' ');
      what = `<span class="tr">${state(e.pair[0])}<span class="arrow">⇄</span>${state(e.pair[1])}<span class="count" title="${e.count} transitions folded into this row">×${e.count}</span></span><span class="meta">${who}<span class="on">since ${clock(e.since)}</span>${ctx}</span>`;
    } else {
      what = `<span class="msg">${escapeHtml(e.text)}</span><span class="meta">${who}</span>`;
    }
    li.innerHTML = `<time>${clock(e.at)}</time><span class="what">${what}</span>`;
    li.hidden = !this.matches(e.ttid ?? '');
    return li;
  }

  /** Connection status pill in the header. */
  setStatus(s) {
    const pill = this.dom.status;
    pill.dataset.status = s.state;
    if (s.state === 'open') {
      setText(pill, 'live');
      pill.title = 'connected to /ws';
    } else if (s.state === 'connecting') {
      setText(pill, s.attempt ? `reconnecting… (${s.attempt})` : 'connecting…');
      pill.title = '';
    } else {
      const secs = s.retryAt ? Math.max(0, Math.ceil((s.retryAt - Date.now()) / 1000)) : null;
      setText(pill, secs !== null ? `offline · retry in ${secs}s` : 'offline');
      pill.title = `${s.error ?? 'disconnected'} — click to retry now`;
    }
  }

  /** Once a second: ages, rates and retention. */
  tick() {
    for (const c of this.model.conns.values()) this.model.touch(c);
  }
}
