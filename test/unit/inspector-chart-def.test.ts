// ChartDefs are read off the machine definitions at runtime: every state of
// the connection and registry charts must appear, with its transitions,
// targets and guards, and the result must survive JSON.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connectionMachine } from '../../machines/connection.js';
import { registryMachine } from '../../machines/registry.js';
import { chartDefOf } from '../../inspector/chart-def.js';
import type { ChartDef, ChartStateDef, ChartTransitionDef } from '../../inspector/protocol.js';

function flatten(states: ChartStateDef[]): ChartStateDef[] {
  return states.flatMap((s) => [s, ...flatten(s.states)]);
}

function byPath(def: ChartDef): Map<string, ChartStateDef> {
  return new Map(flatten(def.states).map((s) => [s.path, s]));
}

function edges(s: ChartStateDef): string[] {
  return s.transitions.map((t) => `${t.label} -> ${t.targets.join('|') || '(none)'}${t.guard ? ` [${t.guard}]` : ''}`);
}

describe('chart-def: connection machine', () => {
  const def = chartDefOf(connectionMachine);
  const states = byPath(def);

  test('every state appears, in definition order, with its type and initial substate', () => {
    assert.equal(def.id, 'connection');
    assert.equal(def.initial, 'greeting');
    assert.deepEqual(
      def.states.map((s) => s.key),
      ['greeting', 'voting', 'streaming', 'flushing', 'closed'],
    );
    assert.deepEqual(
      [...states.keys()],
      [
        'greeting', 'greeting.waiting', 'greeting.processing',
        'voting', 'voting.waiting', 'voting.processing',
        'streaming', 'streaming.waiting', 'streaming.appending',
        'flushing',
        'closed',
      ],
    );
    for (const compound of ['greeting', 'voting', 'streaming']) {
      assert.equal(states.get(compound)!.type, 'compound');
      assert.equal(states.get(compound)!.initial, 'waiting');
    }
    assert.equal(states.get('flushing')!.type, 'atomic');
    assert.equal(states.get('closed')!.type, 'final');
    assert.equal(states.get('closed')!.transitions.length, 0);
  });

  test('transitions carry events, readable labels, dotted targets and guards', () => {
    assert.deepEqual(edges(states.get('greeting.waiting')!), [
      'MESSAGES -> greeting.processing [hasQueuedMessages]',
      'always -> greeting.processing [hasQueuedMessages]',
      'always -> closed [isEof]',
    ]);
    assert.deepEqual(edges(states.get('greeting.processing')!), ['done: greet -> voting']);
    assert.deepEqual(edges(states.get('voting.processing')!), [
      'done: vote -> streaming [batchReadyToStream]',
      'done: vote -> voting.waiting',
    ]);
    assert.deepEqual(edges(states.get('streaming')!), [], 'no timer on streaming: the flush tick is the processor\'s');
    assert.deepEqual(edges(states.get('streaming.waiting')!), [
      'MESSAGES -> streaming.appending [hasQueuedMessages]',
      'always -> streaming.appending [hasQueuedMessages]',
      'always -> closed [isEof]',
    ]);
    assert.deepEqual(edges(states.get('streaming.appending')!), [
      'done: append -> flushing [dirtyAfterBatch and (not hasQueuedMessages or flushDue)]',
      'done: append -> streaming.waiting',
    ]);
    assert.deepEqual(edges(states.get('flushing')!), ['done: flush -> streaming']);
    // The raw event type is kept so viewers can match `transition.event` against the chart.
    const done = states.get('flushing')!.transitions[0] as ChartTransitionDef;
    assert.equal(done.event, 'BATCH_DONE');
    const always = states.get('streaming.waiting')!.transitions[1] as ChartTransitionDef;
    assert.equal(always.event, '');
  });

  test('invoked actors and machine-level handlers are listed', () => {
    assert.deepEqual(def.invokes, ['reader', 'writer', 'processor']);
    assert.deepEqual(def.transitions.map((t) => `${t.event}:${t.targets.length}`), ['EOF:0', 'READ_ERROR:0', 'SHUTDOWN:0', 'BATCH_FAILED:1']);
    assert.deepEqual(def.transitions.at(-1)!.targets, ['closed'], 'a failed batch of any state closes the connection');
    for (const s of states.values()) assert.deepEqual(s.invokes, [], `${s.path} invokes nothing: no actor per batch`);
  });

  test('every target names a state of the chart; every non-final leaf can be left', () => {
    for (const s of states.values()) {
      for (const t of s.transitions) for (const target of t.targets) assert.ok(states.has(target), `${s.path}: unknown target ${target}`);
      if (s.type === 'atomic') assert.ok(s.transitions.length > 0, `${s.path} has no way out`);
    }
  });

  test('is plain JSON', () => {
    assert.deepEqual(JSON.parse(JSON.stringify(def)), def);
  });
});

describe('chart-def: registry machine', () => {
  test('one state, four targetless handlers', () => {
    const def = chartDefOf(registryMachine);
    assert.equal(def.id, 'registry');
    assert.deepEqual(def.states.map((s) => `${s.path}:${s.type}`), ['tracking:atomic']);
    assert.deepEqual(def.states[0]!.transitions.map((t) => `${t.event}:${t.targets.length}`), ['REGISTER:0', 'SET_STATUS:0', 'UNREGISTER:0', 'MEMBERSHIP.SWITCHED:0']);
  });
});
