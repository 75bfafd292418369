// The root of the actor system: one per process. Every connection and every
// timeline's walreceiver registry is spawned as its child, so one `inspect`
// hook on the system sees them all, and stopping the root stops everything.

import { assign, enqueueActions, setup, stopChild, type AnyActorRef } from 'xstate';
import { connectionMachine, type ConnectionInput } from './connection.js';
import { registryMachine } from './registry.js';
import { senderMachine, type SenderInput } from './sender.js';

export type SafekeeperEvent =
  | { type: 'CONNECTION.ACCEPTED'; input: ConnectionInput }
  | { type: 'SENDER.ACCEPTED'; input: SenderInput }
  | { type: 'TIMELINE.LOADED'; ttid: string }
  | { type: 'TIMELINE.UNLOADED'; ttid: string }
  | { type: 'SHUTDOWN' }
  | { type: `xstate.done.actor.${string}`; actorId?: string };

export interface SafekeeperContext {
  /** Connections currently alive. */
  connections: number;
}

export function connectionActorId(connId: number): string {
  return `conn-${connId}`;
}

export function senderActorId(connId: number): string {
  return `send-${connId}`;
}

export function registrySystemId(ttid: string): string {
  return `registry:${ttid}`;
}

export const safekeeperMachine = setup({
  types: {
    context: {} as SafekeeperContext,
    events: {} as SafekeeperEvent,
  },
  actors: {
    connection: connectionMachine,
    registry: registryMachine,
    sender: senderMachine,
  },
  guards: {
    noConnectionsLeft: ({ context }) => context.connections === 0,
  },
}).createMachine({
  id: 'safekeeper',
  context: { connections: 0 },
  initial: 'running',
  on: {
    'TIMELINE.LOADED': {
      actions: enqueueActions(({ enqueue, event }) => {
        enqueue.spawnChild('registry', {
          id: `registry-${event.ttid}`,
          systemId: registrySystemId(event.ttid),
          input: { ttid: event.ttid },
        });
      }),
    },
    'TIMELINE.UNLOADED': { actions: stopChild(({ event }) => `registry-${event.ttid}`) },
    'xstate.done.actor.*': {
      actions: [
        stopChild(({ event }) => event.type.slice('xstate.done.actor.'.length)),
        assign(({ context, event }) =>
          event.type.startsWith('xstate.done.actor.conn-') ? { connections: context.connections - 1 } : {},
        ),
      ],
    },
  },
  states: {
    running: {
      on: {
        'CONNECTION.ACCEPTED': {
          actions: [
            enqueueActions(({ enqueue, event }) => {
              enqueue.spawnChild('connection', { id: connectionActorId(event.input.connId), input: event.input });
            }),
            assign(({ context }) => ({ connections: context.connections + 1 })),
          ],
        },
        // WAL senders: one per START_REPLICATION; they do not hold up shutdown.
        'SENDER.ACCEPTED': {
          actions: enqueueActions(({ enqueue, event }) => {
            enqueue.spawnChild('sender', { id: senderActorId(event.input.connId), input: event.input });
          }),
        },
        SHUTDOWN: 'stopping',
      },
    },
    // Connections stop reading, drain their queues, flush, and close.
    stopping: {
      entry: enqueueActions(({ context, enqueue, self }) => {
        void context;
        for (const child of Object.values(self.getSnapshot().children) as AnyActorRef[]) {
          if (child.id.startsWith('conn-')) enqueue.sendTo(child, { type: 'SHUTDOWN' });
          if (child.id.startsWith('send-')) enqueue.sendTo(child, { type: 'END', reason: 'shutdown' });
        }
      }),
      always: { guard: 'noConnectionsLeft', target: 'stopped' },
    },
    stopped: { type: 'final' },
  },
});

export type SafekeeperMachine = typeof safekeeperMachine;
