// WalReceivers: per timeline, the slots of the connections pushing WAL to it
// (Neon's receive_wal.rs registry). A freed slot is reused by the next
// registration; a slot says Voting until its connection dequeues a
// ProposerElected, then Streaming. The chart has one state: what matters is
// the context, which the timeline reads for /v1 status and metrics. It also
// holds the timeline's membership configuration, so a switch (greeting or
// HTTP) is an event in the actor system that the inspector sees.

import { assign, setup } from 'xstate';

export type WalReceiverStatus = 'Voting' | 'Streaming';

export interface WalReceiverSlot {
  /** null would be peer recovery started by this safekeeper (not implemented yet). */
  connId: number | null;
  status: WalReceiverStatus;
}

/** The membership configuration as inspection sees it: JSON-friendly, members as `id@host:port`. */
export interface MconfView {
  generation: number;
  members: string[];
  newMembers: string[] | null;
}

export interface RegistryInput {
  ttid: string;
  mconf?: MconfView;
}

export interface RegistryContext {
  ttid: string;
  slots: Array<WalReceiverSlot | null>;
  mconf: MconfView;
}

export type RegistryEvent =
  | { type: 'REGISTER'; connId: number }
  | { type: 'MEMBERSHIP.SWITCHED'; mconf: MconfView }
  | { type: 'SET_STATUS'; connId: number; status: WalReceiverStatus }
  | { type: 'UNREGISTER'; connId: number };

export const registryMachine = setup({
  types: {
    context: {} as RegistryContext,
    events: {} as RegistryEvent,
    input: {} as RegistryInput,
  },
  actions: {
    register: assign(({ context }, params: { connId: number }) => {
      const slots = context.slots.slice();
      const entry: WalReceiverSlot = { connId: params.connId, status: 'Voting' };
      const free = slots.indexOf(null);
      if (free >= 0) slots[free] = entry;
      else slots.push(entry);
      return { slots };
    }),
    setStatus: assign(({ context }, params: { connId: number; status: WalReceiverStatus }) => ({
      slots: context.slots.map((s) => (s && s.connId === params.connId ? { ...s, status: params.status } : s)),
    })),
    unregister: assign(({ context }, params: { connId: number }) => ({
      slots: context.slots.map((s) => (s && s.connId === params.connId ? null : s)),
    })),
  },
}).createMachine({
  id: 'registry',
  context: ({ input }) => ({ ttid: input.ttid, slots: [], mconf: input.mconf ?? { generation: 0, members: [], newMembers: null } }),
  initial: 'tracking',
  states: {
    tracking: {
      on: {
        REGISTER: { actions: { type: 'register', params: ({ event }) => ({ connId: event.connId }) } },
        SET_STATUS: {
          actions: { type: 'setStatus', params: ({ event }) => ({ connId: event.connId, status: event.status }) },
        },
        UNREGISTER: { actions: { type: 'unregister', params: ({ event }) => ({ connId: event.connId }) } },
        'MEMBERSHIP.SWITCHED': { actions: assign({ mconf: ({ event }) => event.mconf }) },
      },
    },
  },
});

/** Registered receivers (compute connections), as Neon's get_num. */
export function connectedComputes(context: RegistryContext): number {
  return context.slots.reduce((n, s) => (s ? n + 1 : n), 0);
}

/** Streaming receivers that are compute connections (normally 0 or 1). */
export function streamingComputes(context: RegistryContext): number {
  return context.slots.reduce((n, s) => (s && s.connId !== null && s.status === 'Streaming' ? n + 1 : n), 0);
}

export type RegistryMachine = typeof registryMachine;
