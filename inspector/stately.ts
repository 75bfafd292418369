// The same observations in @statelyai/inspect's event shape (its src/types.ts
// and createInspector.ts, package version 0.7.x): `@xstate.actor`,
// `@xstate.event` and `@xstate.snapshot`, each with sessionId, rootId,
// createdAt (milliseconds as a decimal string), id and _version. Actors are
// named by the inspector's own ids ('conn-7', 'conn-7/reader'), so parentId
// links them into the same tree the native protocol shows; snapshots carry
// the state value, the status and the compact context view, never the raw
// context (bigints, closures).

import type { AnyActorRef, StateValue } from 'xstate';
import type { ObservedActor } from './observer.js';
import type { ActorStatus, ContextView } from './protocol.js';

/** The @statelyai/inspect release whose event shape this follows. */
export const STATELY_INSPECT_VERSION = '0.7.1';
export const STATELY_ROOT_ID = 'safekeeper';
/** Event type on snapshots that carry coalesced progress (xstate has no event for it). */
export const PROGRESS_EVENT = 'safekeeper.progress';

export interface StatelySnapshotView {
  status: ActorStatus;
  value?: StateValue;
  context?: ContextView | null;
}

interface StatelyBase {
  rootId: string;
  sessionId: string;
  createdAt: string;
  id: string;
  _version: string;
}

export type StatelyActorEvent = StatelyBase & {
  type: '@xstate.actor';
  name: string;
  parentId: string | undefined;
  definition: string | undefined;
  snapshot: StatelySnapshotView;
};
export type StatelyEventEvent = StatelyBase & { type: '@xstate.event'; event: { type: string }; sourceId: string | undefined };
export type StatelySnapshotEvent = StatelyBase & { type: '@xstate.snapshot'; event: { type: string }; snapshot: StatelySnapshotView };
export type StatelyInspectionEvent = StatelyActorEvent | StatelyEventEvent | StatelySnapshotEvent;

/** Functions in a machine config become `{ type: name }`, as @statelyai/inspect serializes them. */
function definitionReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'function') return { type: value.name || 'anonymous' };
  if (typeof value === 'bigint') return value.toString();
  return value;
}

export class StatelyEncoder {
  private seq = 0;
  /** Machine definitions are serialized once per logic, not once per actor. */
  private readonly definitions = new WeakMap<object, string>();

  private base(sessionId: string, at: number): StatelyBase {
    return { rootId: STATELY_ROOT_ID, sessionId, createdAt: String(at), id: String(++this.seq), _version: STATELY_INSPECT_VERSION };
  }

  snapshotView(rec: ObservedActor, context: ContextView | null): StatelySnapshotView {
    const v: StatelySnapshotView = { status: rec.status };
    if (rec.machine) {
      v.value = rec.value;
      v.context = context;
    }
    return v;
  }

  actor(rec: ObservedActor, context: ContextView | null, at: number): StatelyActorEvent {
    return {
      type: '@xstate.actor',
      ...this.base(rec.id, at),
      name: nameOf(rec),
      parentId: rec.parent?.id,
      definition: this.definition(rec),
      snapshot: this.snapshotView(rec, context),
    };
  }

  event(rec: ObservedActor, eventType: string, at: number): StatelyEventEvent {
    return { type: '@xstate.event', ...this.base(rec.id, at), event: { type: eventType }, sourceId: undefined };
  }

  snapshot(rec: ObservedActor, eventType: string, context: ContextView | null, at: number): StatelySnapshotEvent {
    return { type: '@xstate.snapshot', ...this.base(rec.id, at), event: { type: eventType }, snapshot: this.snapshotView(rec, context) };
  }

  private definition(rec: ObservedActor): string {
    const logic = logicOf(rec.ref);
    const config = logic && typeof logic === 'object' ? (logic as { config?: unknown }).config : undefined;
    if (!config || typeof config !== 'object') return JSON.stringify({ id: nameOf(rec) });
    let text = this.definitions.get(logic as object);
    if (text === undefined) {
      text = JSON.stringify(config, definitionReplacer);
      this.definitions.set(logic as object, text);
    }
    return text;
  }
}

function logicOf(ref: AnyActorRef): unknown {
  return (ref as unknown as { logic?: unknown }).logic;
}

/** xstate names a root actor by its session id; @statelyai/inspect then uses the machine id. */
function nameOf(rec: ObservedActor): string {
  if (rec.kind === 'root') return STATELY_ROOT_ID;
  return rec.ref.id;
}
