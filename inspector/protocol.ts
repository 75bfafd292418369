// The inspector's wire types (inspector/PROTOCOL.md, version 1): what the
// server sends to viewers and what viewers may send back. Types only.

export const PROTOCOL_VERSION = 1;

export type ActorKind = 'connection' | 'reader' | 'writer' | 'registry' | 'processor' | 'sender' | 'root';
export type ActorStatus = 'active' | 'done' | 'stopped' | 'error';

export interface ConnectionContextView {
  connId: number;
  ttid: string;
  tenantId: string;
  timelineId: string;
  peer: string;
  /** START_WAL_PUSH proto_version (2 or 3). */
  protocolVersion: number;
  /** The timeline's membership generation as of the last batch (0: none). */
  generation: number;
  term: string;
  flushLsn: string;
  commitLsn: string;
  queueDepth: number;
  dirty: boolean;
  eof: boolean;
  error: string | null;
  processed: number;
}

export interface RegistryContextView {
  ttid: string;
  tenantId: string;
  timelineId: string;
  slots: Array<{ connId: number | null; status: 'Voting' | 'Streaming' } | null>;
  computes: number;
  /** The timeline's membership configuration; members as `id@host:port`. */
  mconf: { generation: number; members: string[]; newMembers: string[] | null };
}

/** A WAL sender (START_REPLICATION): who reads, in which mode, and how far it got. */
export interface SenderContextView {
  connId: number;
  ttid: string;
  tenantId: string;
  timelineId: string;
  peer: string;
  appName: string | null;
  mode: 'commit' | 'flush';
  term: string | null;
  startLsn: string;
  pos: string;
  endPos: string;
  reason: string | null;
  message: string | null;
}

export type ContextView = ConnectionContextView | RegistryContextView | SenderContextView;

export interface ActorView {
  id: string;
  kind: ActorKind;
  parentId: string | null;
  /** Dotted state path, e.g. 'streaming.appending'; '' for actors that are not state machines. */
  state: string;
  status: ActorStatus;
  context: ContextView | null;
  spawnedAt: number;
  stoppedAt?: number;
}

export interface Transition {
  id: string;
  kind: ActorKind;
  from: string;
  to: string;
  /** Type of the event the actor was processing when its state changed. */
  event: string;
  at: number;
  context: ContextView | null;
}

export interface ChartTransitionDef {
  /** The xstate event type: '' for eventless (`always`) transitions. */
  event: string;
  /** A readable name for drawing: 'MESSAGES', 'always', 'done: greet', 'BATCH_FAILED'. */
  label: string;
  /** Dotted paths; [] for a targetless transition (actions only). */
  targets: string[];
  guard?: string;
}

export interface ChartStateDef {
  key: string;
  path: string;
  type: 'atomic' | 'compound' | 'parallel' | 'final' | 'history';
  initial?: string;
  states: ChartStateDef[];
  transitions: ChartTransitionDef[];
  /** Sources of the actors this state invokes (e.g. 'greet'). */
  invokes: string[];
}

export interface ChartDef {
  id: string;
  /** Top-level states in definition order. */
  states: ChartStateDef[];
  initial?: string;
  /** Transitions handled at the machine root, in every state (EOF, SHUTDOWN, ...). */
  transitions: ChartTransitionDef[];
  /** Actors invoked by the machine root for its whole life (reader, writer, processor). */
  invokes: string[];
}

export type ServerMessage =
  | { type: 'hello'; version: number; nodeId: string; machines: { connection: ChartDef; registry: ChartDef; sender?: ChartDef }; now: number }
  | { type: 'snapshot'; actors: ActorView[]; transitions: Transition[]; now: number }
  | { type: 'actor.spawned'; actor: ActorView }
  | { type: 'actor.stopped'; id: string; at: number; final: ActorView }
  | ({ type: 'transition' } & Transition)
  | { type: 'progress'; id: string; at: number; context: ContextView }
  | { type: 'dropped'; reason: string }
  | { type: 'error'; message: string }
  | { type: 'pong'; at: number };

export type ViewerMessage = { type: 'ping' } | { type: 'resync' };
