// Statecharts for the page, read off the machine definitions at runtime
// (machine.root and its state nodes), so the drawing can never drift from
// the chart that actually runs.

import type { AnyStateMachine, AnyStateNode } from 'xstate';
import type { ChartDef, ChartStateDef, ChartTransitionDef } from './protocol.js';

interface TransitionLike {
  eventType: string;
  target?: ReadonlyArray<AnyStateNode> | undefined;
  guard?: unknown;
}

const DONE_PREFIX = 'xstate.done.actor.';
const ERROR_PREFIX = 'xstate.error.actor.';
const AFTER_PREFIX = 'xstate.after.';

function guardName(guard: unknown): string | undefined {
  if (guard === undefined || guard === null) return undefined;
  if (typeof guard === 'string') return guard;
  // xstate's and()/or()/not() combinators: functions carrying the guards they combine.
  const parts = (guard as { guards?: unknown }).guards;
  if (typeof guard === 'function' && Array.isArray(parts) && ['and', 'or', 'not'].includes(guard.name)) {
    const names = parts.map((g) => {
      const name = guardName(g) ?? 'inline';
      const combined = typeof g === 'function' && (g.name === 'and' || g.name === 'or');
      return combined ? `(${name})` : name;
    });
    return guard.name === 'not' ? `not ${names[0]}` : names.join(` ${guard.name} `);
  }
  if (typeof guard === 'function') return guard.name || 'inline';
  if (typeof guard === 'object' && typeof (guard as { type?: unknown }).type === 'string') return (guard as { type: string }).type;
  return 'inline';
}

/**
 * The batch a processing state of the connection chart asks its processor to run
 * (its `run` entry action), so `BATCH_DONE` can be drawn as `done: append`.
 */
function batchRunBy(node: AnyStateNode): string | undefined {
  for (const a of node.entry ?? []) {
    const action = a as { type?: unknown; params?: { batch?: unknown } };
    if (action.type === 'run' && typeof action.params?.batch === 'string') return action.params.batch;
  }
  return undefined;
}

/** `xstate.done.actor.0.connection.flushing` → `done: flush`, using the node's invoke ids. */
function labelOf(eventType: string, invokeSrc: ReadonlyMap<string, string>, batch?: string): string {
  if (eventType === '') return 'always';
  if (eventType === 'BATCH_DONE' && batch) return `done: ${batch}`;
  for (const [prefix, word] of [[DONE_PREFIX, 'done'], [ERROR_PREFIX, 'error']] as const) {
    if (eventType.startsWith(prefix)) {
      const id = eventType.slice(prefix.length);
      return `${word}: ${invokeSrc.get(id) ?? id}`;
    }
  }
  if (eventType.startsWith(AFTER_PREFIX)) {
    // xstate.after.<delay>.<state id>
    const delay = eventType.slice(AFTER_PREFIX.length).split('.')[0];
    return `after ${delay}`;
  }
  return eventType;
}

function transitionDef(t: TransitionLike, invokeSrc: ReadonlyMap<string, string>, batch?: string): ChartTransitionDef {
  const def: ChartTransitionDef = {
    event: t.eventType,
    label: labelOf(t.eventType, invokeSrc, batch),
    targets: (t.target ?? []).map((n) => n.path.join('.')),
  };
  const guard = guardName(t.guard);
  if (guard !== undefined) def.guard = guard;
  return def;
}

function invokesOf(node: AnyStateNode): { names: string[]; byId: Map<string, string> } {
  const byId = new Map<string, string>();
  const names: string[] = [];
  for (const inv of node.invoke) {
    const src = typeof inv.src === 'string' ? inv.src : inv.id;
    byId.set(inv.id, src);
    names.push(src);
  }
  return { names, byId };
}

/** Event-driven transitions first (definition order), then eventless ones in priority order. */
function transitionsOf(node: AnyStateNode, invokeSrc: ReadonlyMap<string, string>): ChartTransitionDef[] {
  const out: ChartTransitionDef[] = [];
  const batch = batchRunBy(node);
  for (const list of node.transitions.values()) for (const t of list) out.push(transitionDef(t, invokeSrc, batch));
  for (const t of node.always ?? []) out.push(transitionDef(t, invokeSrc));
  return out;
}

function stateDef(node: AnyStateNode): ChartStateDef {
  const { names, byId } = invokesOf(node);
  const def: ChartStateDef = {
    key: node.key,
    path: node.path.join('.'),
    type: node.type,
    states: Object.values(node.states as Record<string, AnyStateNode>).map(stateDef),
    transitions: transitionsOf(node, byId),
    invokes: names,
  };
  const initial = initialKey(node);
  if (initial !== undefined) def.initial = initial;
  return def;
}

function initialKey(node: AnyStateNode): string | undefined {
  if (node.type !== 'compound') return undefined;
  return node.initial.target[0]?.key;
}

export function chartDefOf(machine: AnyStateMachine): ChartDef {
  const root = machine.root;
  const { names, byId } = invokesOf(root);
  const def: ChartDef = {
    id: machine.id,
    states: Object.values(root.states as Record<string, AnyStateNode>).map(stateDef),
    transitions: transitionsOf(root, byId),
    invokes: names,
  };
  const initial = initialKey(root);
  if (initial !== undefined) def.initial = initial;
  return def;
}
