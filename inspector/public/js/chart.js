// Draws a statechart from the ChartDef the server derives from the machine
// definition (PROTOCOL.md): top-level states left to right in definition
// order, compound states containing their substates stacked top to bottom.
// Transitions are routed by how far they go, so the picture stays readable
// without a general graph-layout engine:
//   * between substates of one compound: short vertical arrows;
//   * to the next top-level state: a curve across the gap, labelled;
//   * further right: down onto a shared "bus" under the chart, then up into
//     the target (one drop per source state, labels merged on the bus);
//   * leftwards: an arc over the top.
// The layout is computed once per ChartDef and the SVG markup is reused for
// every connection; ChartView then only toggles classes.

import { eventLabel, escapeHtml, topState } from './format.js';

const MONO_W = 0.61; // width of one monospace glyph per px of font size (DejaVu Sans Mono, Menlo, Consolas are ~0.6)
const STATE_FONT = 11;
const EDGE_FONT = 9.5;
const CHILD_H = 26;
const TOP_ATOMIC_H = 32;
const HEADER_H = 24;
const PAD = 12;
const MARGIN = 14;
const INNER_ARROW = 16; // distance of the arrows between substates from the box sides

function textW(text, size) {
  return Math.ceil(text.length * size * MONO_W);
}

/** Every state of the def by dotted path, with its parent and top-level column. */
function indexStates(def) {
  const byPath = new Map();
  def.states.forEach((top, col) => {
    const visit = (s, parent) => {
      byPath.set(s.path, { def: s, parent, col });
      for (const c of s.states ?? []) visit(c, s);
    };
    visit(top, null);
  });
  return byPath;
}

/**
 * What to write on an arrow: the server's readable label ('done: greet') when it
 * sends one; an eventless transition is named by its guard, which says more than 'always'.
 */
function labelOf(t) {
  if (!t.event || t.event === 'always') return t.guard ? t.guard : 'always';
  return typeof t.label === 'string' && t.label !== '' ? t.label : eventLabel(t.event, t.guard);
}

/** Named events win over eventless ones when several transitions share one arrow. */
function mergedLabel(transitions) {
  const named = transitions.filter((t) => t.event && t.event !== 'always' && !t.event.startsWith('xstate.'));
  const pick = named.length > 0 ? named : transitions;
  return [...new Set(pick.map(labelOf))].join(' · ');
}

function describe(t, src, dst) {
  const guard = t.guard ? ` [${t.guard}]` : '';
  const name = t.event ? (t.label ?? eventLabel(t.event)) : 'always';
  return `${src} → ${dst} on ${name}${guard}`;
}

/**
 * Geometry of a ChartDef: boxes for every state, edges as SVG path data,
 * plus the overall size. Pure: no DOM.
 */
export function layoutChart(def) {
  const index = indexStates(def);
  const tops = def.states;

  // Collect transitions grouped by (source, target) and classify them.
  const internal = new Map(); // key src→dst, both substates of one compound
  const forward = new Map(); // next column
  const bus = new Map(); // further right; keyed by source top-level + target
  const back = new Map(); // leftwards
  const targetless = new Map(); // path -> descriptions
  for (const [path, info] of index) {
    for (const t of info.def.transitions ?? []) {
      const targets = t.targets ?? [];
      if (targets.length === 0) {
        const list = targetless.get(path) ?? [];
        list.push(`${labelOf(t)}${t.guard && t.event ? ` [${t.guard}]` : ''} (no state change)`);
        targetless.set(path, list);
        continue;
      }
      for (const dst of targets) {
        const tinfo = index.get(dst);
        if (!tinfo) continue; // a target outside the def: nothing to draw it to
        const add = (map, key, extra) => {
          const e = map.get(key) ?? { src: extra.src, dst, transitions: [], titles: [] };
          e.transitions.push(t);
          e.titles.push(describe(t, path, dst));
          map.set(key, e);
        };
        if (tinfo.col === info.col) {
          if (info.parent && tinfo.parent === info.parent && dst !== path) add(internal, `${path}→${dst}`, { src: path });
          else {
            const list = targetless.get(path) ?? [];
            list.push(`${labelOf(t)} → ${dst}`);
            targetless.set(path, list);
          }
        } else if (tinfo.col === info.col + 1) add(forward, `${path}→${dst}`, { src: path });
        else if (tinfo.col > info.col) add(bus, `${tops[info.col].path}→${dst}`, { src: tops[info.col].path });
        else add(back, `${tops[info.col].path}→${dst}`, { src: tops[info.col].path });
      }
    }
  }

  // Box sizes.
  const boxes = new Map(); // path -> {x,y,w,h,kind,label,col,depth}
  const size = tops.map((top) => {
    const kids = top.states ?? [];
    if (kids.length === 0) {
      return { w: Math.max(84, textW(top.key, STATE_FONT) + 28), h: TOP_ATOMIC_H };
    }
    const mine = [...internal.values()].filter((e) => index.get(e.src).parent === top);
    const hasInternal = mine.length > 0;
    // Down arrows run near the left edge with their label to the right, up arrows mirror that:
    // the children must be wide enough for a label not to cross the other arrow.
    const labelRoom = Math.max(0, ...mine.map((e) => textW(mergedLabel(e.transitions), EDGE_FONT) + 2 * INNER_ARROW + 14));
    const childW = Math.max(88, labelRoom, ...kids.map((k) => textW(k.key, STATE_FONT) + 26));
    const gap = hasInternal ? 44 : 14;
    const h = HEADER_H + kids.length * CHILD_H + (kids.length - 1) * gap + PAD;
    const w = Math.max(childW + 2 * PAD, textW(top.key, STATE_FONT) + 2 * PAD);
    return { w, h, childW, gap };
  });
  const rowH = Math.max(...size.map((s) => s.h), TOP_ATOMIC_H);

  // Gaps between columns wide enough for the labels of the arrows crossing them.
  const gaps = tops.map(() => 58);
  for (const e of forward.values()) {
    const col = index.get(e.src).col;
    gaps[col] = Math.max(gaps[col], textW(mergedLabel(e.transitions), EDGE_FONT) + 22);
  }

  const backLanes = [...back.values()].sort(
    (a, b) => index.get(a.src).col - index.get(a.dst).col - (index.get(b.src).col - index.get(b.dst).col),
  );
  const topRoom = backLanes.length > 0 ? 30 + (backLanes.length - 1) * 16 : 6;
  const y0 = MARGIN + topRoom;

  let x = MARGIN;
  tops.forEach((top, col) => {
    const s = size[col];
    const kids = top.states ?? [];
    const y = kids.length === 0 ? y0 + (rowH - s.h) / 2 : y0;
    boxes.set(top.path, { x, y, w: s.w, h: s.h, kind: kids.length ? 'compound' : top.type, label: top.key, col, depth: 0, invokes: top.invokes ?? [] });
    kids.forEach((k, i) => {
      boxes.set(k.path, {
        x: x + (s.w - s.childW) / 2,
        y: y + HEADER_H + i * (CHILD_H + s.gap),
        w: s.childW,
        h: CHILD_H,
        kind: k.type,
        label: k.key,
        col,
        depth: 1,
        invokes: k.invokes ?? [],
      });
    });
    x += s.w + gaps[col];
  });
  const contentRight = x - gaps[tops.length - 1];

  /** Where an arrow enters a state from the left: a compound is entered at its initial substate. */
  const entryY = (path) => {
    const info = index.get(path);
    const b = boxes.get(path);
    if (info.def.states?.length && info.def.initial) {
      const init = boxes.get(`${path}.${info.def.initial}`);
      if (init) return init.y + init.h / 2;
    }
    return b.y + b.h / 2;
  };

  const edges = [];

  for (const e of internal.values()) {
    const a = boxes.get(e.src);
    const b = boxes.get(e.dst);
    const down = b.y > a.y;
    const x1 = down ? a.x + INNER_ARROW : a.x + a.w - INNER_ARROW;
    const y1 = down ? a.y + a.h : a.y;
    const y2 = down ? b.y : b.y + b.h;
    const label = mergedLabel(e.transitions);
    const gapTop = Math.min(a.y, b.y) + CHILD_H;
    edges.push({
      kind: 'internal',
      src: e.src,
      dst: e.dst,
      d: `M${x1},${y1} L${x1},${y2 + (down ? -2 : 2)}`,
      label,
      lx: down ? x1 + 6 : x1 - 6,
      ly: down ? gapTop + 15 : gapTop + 33,
      anchor: down ? 'start' : 'end',
      title: e.titles.join('\n'),
    });
  }

  for (const e of forward.values()) {
    const a = boxes.get(e.src);
    const b = boxes.get(e.dst);
    const x1 = a.x + a.w;
    const y1 = a.y + a.h / 2;
    const x2 = b.x - 2;
    const y2 = entryY(e.dst);
    const dx = (x2 - x1) / 2;
    const label = mergedLabel(e.transitions);
    // Centre the label in the gap between the top-level boxes, clear of a compound's border.
    const outer = boxes.get(tops[index.get(e.src).col].path);
    edges.push({
      kind: 'forward',
      src: e.src,
      dst: e.dst,
      d: `M${x1},${y1} C${x1 + dx},${y1} ${x2 - dx},${y2} ${x2},${y2}`,
      label,
      lx: (outer.x + outer.w + x2) / 2,
      ly: (y1 + y2) / 2 - 5,
      anchor: 'middle',
      title: e.titles.join('\n'),
    });
  }

  // One bus lane per target, drops spread a little when a source feeds several lanes.
  const busTargets = [...new Set([...bus.values()].map((e) => e.dst))];
  const busBase = y0 + rowH + 20;
  const busLabels = [];
  for (const e of bus.values()) {
    const lane = busTargets.indexOf(e.dst);
    const y = busBase + lane * 16;
    const a = boxes.get(e.src);
    const b = boxes.get(e.dst);
    const sx = a.x + a.w / 2 + lane * 8;
    const tx = b.x + b.w / 2 - lane * 8;
    const r = 7;
    edges.push({
      kind: 'bus',
      src: e.src,
      dst: e.dst,
      d: `M${sx},${a.y + a.h} L${sx},${y - r} Q${sx},${y} ${sx + r},${y} L${tx - r},${y} Q${tx},${y} ${tx},${y - r} L${tx},${b.y + b.h + 2}`,
      label: '',
      title: e.titles.join('\n'),
    });
  }
  for (const dst of busTargets) {
    const all = [...bus.values()].filter((e) => e.dst === dst);
    const lane = busTargets.indexOf(dst);
    const b = boxes.get(dst);
    const lastDrop = Math.max(...all.map((e) => boxes.get(e.src).x + boxes.get(e.src).w / 2));
    busLabels.push({
      text: `${mergedLabel(all.flatMap((e) => e.transitions))}  →  ${dst}`,
      x: (lastDrop + b.x + b.w / 2) / 2,
      y: busBase + lane * 16 + 13,
    });
  }

  backLanes.forEach((e, lane) => {
    const a = boxes.get(e.src);
    const b = boxes.get(e.dst);
    const sx = a.x + a.w / 2;
    const sy = a.y;
    const tx = b.x + b.w * 0.72;
    const ty = b.y - 2;
    const ly = y0 - 20 - lane * 16;
    edges.push({
      kind: 'back',
      src: e.src,
      dst: e.dst,
      d: `M${sx},${sy} C${sx},${ly} ${tx},${ly} ${tx},${ty}`,
      label: mergedLabel(e.transitions),
      lx: (sx + tx) / 2,
      ly: ly + 6 - 4,
      anchor: 'middle',
      title: e.titles.join('\n'),
    });
  });

  const bottom = busTargets.length > 0 ? busBase + (busTargets.length - 1) * 16 + 18 : y0 + rowH + 8;
  return {
    id: def.id,
    width: Math.ceil(contentRight + MARGIN),
    height: Math.ceil(bottom + MARGIN / 2),
    tops: tops.map((t) => t.path),
    boxes,
    edges,
    busLabels,
    targetless,
    // Handled at the root in every state; nothing to draw an arrow for, so they go in the tooltip.
    rootNotes: [
      ...(def.transitions ?? []).map((t) => `${labelOf(t)}${t.targets?.length ? ` → ${t.targets.join(', ')}` : ''} (in every state)`),
      ...((def.invokes ?? []).length ? [`invokes ${def.invokes.join(', ')} for its whole life`] : []),
    ],
  };
}

/** SVG markup for a layout; states carry data-path, edges data-src/data-dst for ChartView. */
export function chartSvg(layout) {
  const parts = [];
  parts.push(
    // Fills the card's width, up to a third larger than drawn (wide screens), and shrinks when it must.
    `<svg class="chart" viewBox="0 0 ${layout.width} ${layout.height}" width="${layout.width}" height="${layout.height}" style="max-width: min(100%, ${Math.round(layout.width * 1.33)}px)" role="img" aria-label="${escapeHtml(layout.id)} statechart">`,
  );
  parts.push(`<title>${escapeHtml([`${layout.id} statechart`, ...layout.rootNotes].join('\n'))}</title>`);
  const tone = (path) => {
    const top = path.split('.')[0];
    return layout.boxes.get(top)?.kind === 'final' ? 'tone-final' : `tone-${layout.tops.indexOf(top) % 6}`;
  };
  // States first (compounds under their children), edges on top so arrows stay visible.
  for (const [path, b] of layout.boxes) {
    const extra = layout.targetless.get(path);
    const notes = [...(b.invokes.length ? [`invokes ${b.invokes.join(', ')}`] : []), ...(extra ?? [])];
    const title = `${path}${b.kind === 'final' ? ' (final)' : ''}${notes.length ? '\n' + notes.join('\n') : ''}`;
    const cls = `st st-${b.kind} depth-${b.depth} ${tone(path)}`;
    const rx = b.depth === 0 ? 9 : 6;
    parts.push(`<g class="${cls}" data-path="${escapeHtml(path)}"><title>${escapeHtml(title)}</title>`);
    parts.push(`<rect class="st-box" x="${b.x}" y="${b.y}" width="${b.w}" height="${b.h}" rx="${rx}"/>`);
    if (b.kind === 'final') {
      parts.push(`<rect class="st-final-ring" x="${b.x + 3.5}" y="${b.y + 3.5}" width="${b.w - 7}" height="${b.h - 7}" rx="${rx - 3}"/>`);
    }
    if (b.kind === 'compound') {
      parts.push(`<text class="st-label" x="${b.x + PAD}" y="${b.y + 16}">${escapeHtml(b.label)}</text>`);
    } else {
      parts.push(
        `<text class="st-label" x="${b.x + b.w / 2}" y="${b.y + b.h / 2 + 4}" text-anchor="middle">${escapeHtml(b.label)}</text>`,
      );
    }
    parts.push('</g>');
  }
  for (const e of layout.edges) {
    parts.push(
      `<g class="edge edge-${e.kind}" data-src="${escapeHtml(e.src)}" data-dst="${escapeHtml(e.dst)}"><title>${escapeHtml(e.title)}</title>`,
    );
    parts.push(`<path class="e-line" d="${e.d}"/>`);
    parts.push(`<path class="e-pulse" d="${e.d}" pathLength="100"/>`);
    if (e.label) {
      parts.push(
        `<text class="e-label" x="${e.lx}" y="${e.ly}" text-anchor="${e.anchor}">${escapeHtml(e.label)}</text>`,
      );
    }
    parts.push('</g>');
  }
  for (const l of layout.busLabels) {
    parts.push(`<text class="e-label bus-label" x="${l.x}" y="${l.y}" text-anchor="middle">${escapeHtml(l.text)}</text>`);
  }
  parts.push('</svg>');
  return parts.join('');
}

/** True when `path` is `ancestor` or lies inside it. */
function within(path, ancestor) {
  return path === ancestor || path.startsWith(ancestor + '.');
}

/**
 * Live view of one chart instance: highlights the current state and the
 * states visited so far, and flashes the arrow of a transition just taken.
 */
export class ChartView {
  constructor(svg) {
    this.svg = svg;
    this.states = [...svg.querySelectorAll('g.st')].map((el) => ({ el, path: el.dataset.path }));
    this.edges = [...svg.querySelectorAll('g.edge')].map((el) => ({ el, src: el.dataset.src, dst: el.dataset.dst }));
    this.current = null;
    this.visitedKey = '';
    this.flashedAt = new WeakMap();
  }

  /** `state` is a dotted path; `visited` a set of top-level state names. */
  setState(state, visited) {
    const key = [...visited].join(' ');
    if (state === this.current && key === this.visitedKey) return;
    this.current = state;
    this.visitedKey = key;
    for (const s of this.states) {
      const on = typeof state === 'string' && state !== '' && within(state, s.path);
      s.el.classList.toggle('current', on);
      s.el.classList.toggle('visited', !on && visited.has(s.path.split('.')[0]) && !s.path.includes('.'));
    }
  }

  /** Flash the arrow that best explains from → to (the most specific source); and the state entered. */
  flash(from, to) {
    let best = null;
    for (const e of this.edges) {
      if (!within(from, e.src) || !within(to, e.dst)) continue;
      if (!best || e.src.length + e.dst.length > best.src.length + best.dst.length) best = e;
    }
    const now = performance.now();
    // An arrow taken again while its pulse still runs keeps glowing instead of restarting:
    // at dozens of transitions a second, restarting every frame costs paint for nothing.
    if (best && now - (this.flashedAt.get(best.el) ?? -1e9) > REFLASH_MS) {
      this.flashedAt.set(best.el, now);
      // Web Animations restart without forcing a layout, which matters at hundreds of updates a second.
      best.el.querySelector('.e-pulse')?.animate(
        [
          { strokeDashoffset: 118, opacity: 1 },
          { strokeDashoffset: 0, opacity: 1, offset: 0.8 },
          { strokeDashoffset: 0, opacity: 0 },
        ],
        { duration: 900, easing: 'cubic-bezier(.3,.6,.3,1)' },
      );
    }
    if (best) hot(best.el, 1400);
    let target = null;
    for (const s of this.states) if (within(to, s.path) && (!target || s.path.length > target.path.length)) target = s;
    if (target && now - (this.flashedAt.get(target.el) ?? -1e9) > REFLASH_MS) {
      this.flashedAt.set(target.el, now);
      target.el.querySelector('.st-box')?.animate([{ strokeWidth: 5 }, { strokeWidth: 2 }], { duration: 700, easing: 'ease-out' });
    }
  }

  /**
   * Activity the server folds into progress messages (round trips between the
   * substates of the current compound state, once per batch) shows as a short
   * pulse on the sibling substates the page never sees as current.
   */
  pulseSiblings(state) {
    const dot = typeof state === 'string' ? state.lastIndexOf('.') : -1;
    if (dot < 0) return;
    const parent = state.slice(0, dot);
    const now = performance.now();
    for (const s of this.states) {
      if (s.path === state || !s.path.startsWith(parent + '.') || s.path.indexOf('.', parent.length + 1) >= 0) continue;
      if (now - (this.flashedAt.get(s.el) ?? -1e9) < REFLASH_MS) continue;
      this.flashedAt.set(s.el, now);
      s.el.querySelector('.st-box')?.animate(
        [{ fill: 'rgba(94, 234, 212, 0.22)', stroke: 'rgba(94, 234, 212, 0.7)' }, {}],
        { duration: 600, easing: 'ease-out' },
      );
    }
  }
}

/** How soon the same arrow or state may flash again. */
const REFLASH_MS = 450;

// One timer sweeps every glowing arrow, instead of a timer per flash.
const hotUntil = new Map();
let sweeper = null;
function hot(el, ms) {
  if (!hotUntil.has(el)) el.classList.add('hot');
  hotUntil.set(el, performance.now() + ms);
  if (sweeper === null) {
    sweeper = setInterval(() => {
      const now = performance.now();
      for (const [e, until] of hotUntil) {
        if (until <= now) {
          e.classList.remove('hot');
          hotUntil.delete(e);
        }
      }
      if (hotUntil.size === 0) {
        clearInterval(sweeper);
        sweeper = null;
      }
    }, 200);
  }
}

/** The colour class of a state, the same in the chart, the badges and the log. */
export function toneOf(def, path) {
  const top = topState(path);
  const i = def ? def.states.findIndex((s) => s.path === top) : -1;
  if (i < 0) return 'tone-x';
  return def.states[i].type === 'final' ? 'tone-final' : `tone-${i % 6}`;
}

/** Event type → the readable label the server attached to it in the def ('done: greet'). */
export function eventLabels(def) {
  const out = new Map();
  const visit = (s) => {
    for (const t of s.transitions ?? []) if (t.event && typeof t.label === 'string') out.set(t.event, t.label);
    for (const c of s.states ?? []) visit(c);
  };
  if (def) visit(def);
  return out;
}
