// From xstate snapshots to the compact, JSON-safe views viewers receive:
// dotted state paths, the context fields a developer watches (LSNs are
// already `X/Y` text in machine context), and what kind of actor an id is.
// Pure: no I/O, no clocks.

import type { StateValue } from 'xstate';
import type { ConnectionContext } from '../machines/connection.js';
import type { RegistryContext } from '../machines/registry.js';
import type { SenderContext } from '../machines/sender.js';
import type { ActorKind, ConnectionContextView, ContextView, RegistryContextView, SenderContextView } from './protocol.js';

/** `{ streaming: 'appending' }` → `streaming.appending`; parallel regions are joined with `,`. */
export function stateString(value: StateValue | undefined): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  let out = '';
  for (const key in value) {
    const inner = stateString(value[key] as StateValue | undefined);
    const part = inner === '' ? key : `${key}.${inner}`;
    out = out === '' ? part : `${out},${part}`;
  }
  return out;
}

/** The top-level state of a dotted path: `streaming.appending` → `streaming`. */
export function topLevel(state: string): string {
  const dot = state.indexOf('.');
  return dot < 0 ? state : state.slice(0, dot);
}

/**
 * Per-batch churn: the `streaming.waiting ⇄ streaming.appending` round trip happens once per
 * batch of AppendRequests, so it is folded into coalesced progress instead of being sent.
 */
export function isBatchRoundTrip(kind: ActorKind, from: string, to: string): boolean {
  return kind === 'connection' && from.startsWith('streaming.') && to.startsWith('streaming.');
}

export function splitTtid(ttid: string): { tenantId: string; timelineId: string } {
  const slash = ttid.indexOf('/');
  return slash < 0 ? { tenantId: ttid, timelineId: '' } : { tenantId: ttid.slice(0, slash), timelineId: ttid.slice(slash + 1) };
}

export function connectionView(c: ConnectionContext): ConnectionContextView {
  const { tenantId, timelineId } = splitTtid(c.ttid);
  return {
    connId: c.connId,
    ttid: c.ttid,
    tenantId,
    timelineId,
    peer: c.peer,
    protocolVersion: c.protocolVersion,
    generation: c.generation,
    term: c.term,
    flushLsn: c.flushLsn,
    commitLsn: c.commitLsn,
    queueDepth: c.queueDepth,
    dirty: c.dirty,
    eof: c.eof,
    error: c.error,
    processed: c.processed,
  };
}

export function registryView(c: RegistryContext): RegistryContextView {
  const { tenantId, timelineId } = splitTtid(c.ttid);
  let computes = 0;
  const slots = c.slots.map((s) => {
    if (!s) return null;
    computes++;
    return { connId: s.connId, status: s.status };
  });
  return { ttid: c.ttid, tenantId, timelineId, slots, computes, mconf: c.mconf };
}

export function contextView(kind: ActorKind, context: unknown): ContextView | null {
  if (context === undefined || context === null) return null;
  if (kind === 'connection') return connectionView(context as ConnectionContext);
  if (kind === 'registry') return registryView(context as RegistryContext);
  if (kind === 'sender') return senderView(context as SenderContext);
  return null;
}

/** Batch sources that run once per batch while streaming: never announced one by one. */

/**
 * What an actor is, from its place in the tree: `null` for actors the inspector does not show
 * (anything it does not know).
 */
export function classify(parentKind: ActorKind | null, id: string): ActorKind | null {
  if (parentKind === null) return 'root';
  if (parentKind === 'root') {
    if (id.startsWith('conn-')) return 'connection';
    if (id.startsWith('registry-')) return 'registry';
    if (id.startsWith('send-')) return 'sender';
    return null;
  }
  if (parentKind === 'connection') {
    if (id === 'reader' || id === 'writer' || id === 'processor') return id;
    return null;
  }
  return null;
}

/** The id viewers see: the path of xstate ids below the root. */
export function viewId(kind: ActorKind, parentViewId: string | null, id: string): string {
  if (kind === 'root') return 'safekeeper';
  if (kind === 'connection' || kind === 'registry' || kind === 'sender') return id;
  return `${parentViewId}/${id}`;
}

export function senderView(c: SenderContext): SenderContextView {
  const { tenantId, timelineId } = splitTtid(c.ttid);
  return {
    connId: c.connId,
    ttid: c.ttid,
    tenantId,
    timelineId,
    peer: c.peer,
    appName: c.appName,
    mode: c.mode,
    term: c.term,
    startLsn: c.startLsn,
    pos: c.pos,
    endPos: c.endPos,
    reason: c.reason,
    message: c.message,
  };
}
