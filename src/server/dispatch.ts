// Command dispatch: one parsed query from a client in the query phase, to the
// handler that answers it. Short commands answer here; a streaming command
// goes to its endpoint module (START_WAL_PUSH: ../receive/start-wal-push.ts)
// and takes the socket over.

import { permissionError } from '../auth/permission.js';
import type { Ttid } from '../ids.js';
import { formatLsn } from '../lsn.js';
import type { CountedQuery } from '../metrics.js';
import { startWalPush } from '../receive/start-wal-push.js';
import { ReplicationRefused, startReplication } from '../send/start-replication.js';
import { SqlState, int4Field, textField, type SafekeeperQuery } from '../wire/index.js';
import { AUTH_ERROR_MESSAGE } from './auth.js';
import type { Client } from './client.js';

/** A query error that keeps the connection usable (ErrorResponse + ReadyForQuery). */
export class QueryError extends Error {
  constructor(message: string, readonly sqlState: string = SqlState.InternalError) {
    super(message);
  }
}

const COUNTED: Partial<Record<SafekeeperQuery['kind'], CountedQuery>> = {
  start_wal_push: 'START_WAL_PUSH',
  start_replication: 'START_REPLICATION',
  identify_system: 'IDENTIFY_SYSTEM',
  timeline_status: 'TIMELINE_STATUS',
  json_ctrl: 'JSON_CTRL',
};

/**
 * Runs one command. Returns false when the socket left the query phase (a stream endpoint took
 * it); otherwise the reply (and, for a simple query, ReadyForQuery) has been sent.
 */
export async function runCommand(client: Client, query: SafekeeperQuery, simple: boolean): Promise<boolean> {
  const counted = COUNTED[query.kind];
  const m = client.deps.metrics;
  if (counted) m?.pgQueriesReceived.inc({ query: counted });
  let finished = true;
  const out = client.out;
  try {
    if (query.kind === 'set_datestyle') {
      out.commandComplete('SELECT 1');
    } else if (refusedByToken(client)) {
      throw new QueryError(AUTH_ERROR_MESSAGE);
    } else if (query.kind === 'show') {
      // What PostgreSQL 15 answers; pg_receivewal asks before anything else.
      out
        .rowDescription([textField(query.name)])
        .dataRow([query.name === 'data_directory_mode' ? '0700' : '16MB'])
        .commandComplete('SHOW');
    } else if (query.kind === 'unsupported') {
      // Neon parses the command before it looks for the ids: an unknown command is named as such.
      throw new QueryError(`unsupported command ${query.query}`);
    } else {
      const ttid = requireTtid(client);
      if (query.kind === 'start_wal_push') {
        // START_WAL_PUSH finishes when its connection does.
        finished = false;
        const session = startWalPush(client, ttid, { allowTimelineCreation: query.allowTimelineCreation, protocolVersion: query.protoVersion });
        void session.closed.then(() => m?.pgQueriesFinished.inc({ query: 'START_WAL_PUSH' }));
        return false;
      }
      if (query.kind === 'start_replication') {
        try {
          startReplication(client, ttid, query.startLsn, query.term);
        } catch (err) {
          if (err instanceof ReplicationRefused) throw new QueryError(err.message);
          throw err;
        }
        // The stream counts as running until it ends (the sender counts it finished).
        finished = false;
        return false;
      }
      answer(client, query, ttid);
    }
  } catch (err) {
    const e = err instanceof QueryError ? err : new QueryError(err instanceof Error ? err.message : String(err));
    if (e.message !== AUTH_ERROR_MESSAGE) client.logger.info({ err: e.message }, 'query failed');
    out.errorResponse(e.message, e.sqlState);
  } finally {
    if (counted && finished) m?.pgQueriesFinished.inc({ query: counted });
  }
  if (simple) out.readyForQuery('I');
  client.send(out);
  return true;
}

/**
 * Whether the token forbids this client's commands (all but SET datestyle). Checked before
 * anything is looked up, so a refusal says nothing about what exists; the reason is logged.
 */
function refusedByToken(client: Client): boolean {
  if (!client.claims) return false;
  const reason = permissionError(client.claims, client.ttid.tenantId ?? null);
  if (reason) client.logger.warn({ peer: client.peer, reason }, 'command refused by the token');
  return reason !== null;
}

function requireTtid(client: Client): Ttid {
  if (!client.ttid.tenantId) throw new QueryError('tenantid is required');
  if (!client.ttid.timelineId) throw new QueryError('timelineid is required');
  return { tenantId: client.ttid.tenantId, timelineId: client.ttid.timelineId };
}

/** The commands answered with one result set (or an error) and no stream. */
function answer(client: Client, query: SafekeeperQuery, ttid: Ttid): void {
  const tl = client.deps.timelines.get(ttid);
  const out = client.out;
  switch (query.kind) {
    case 'timeline_status': {
      out.rowDescription([textField('flush_lsn'), textField('commit_lsn')]);
      if (tl) out.dataRow([formatLsn(tl.acceptor.flushLsn()), formatLsn(tl.acceptor.commitLsn)]);
      out.commandComplete('TIMELINE_STATUS');
      return;
    }
    case 'identify_system': {
      if (!tl) throw new QueryError(`Timeline ${ttid.tenantId}/${ttid.timelineId} was not found in global map`);
      const a = tl.acceptor;
      // Peer recovery reads up to flush_lsn; everyone else only sees what is committed.
      const recovery = client.appName === 'wal_proposer_recovery' || (client.appName ?? '').startsWith('safekeeper');
      out
        .rowDescription([textField('systemid'), int4Field('timeline'), textField('xlogpos'), textField('dbname')])
        .dataRow([a.serverInfo.systemId.toString(), '1', formatLsn(recovery ? a.flushLsn() : a.commitLsn), null])
        .commandComplete('IDENTIFY_SYSTEM');
      return;
    }
    case 'json_ctrl':
      throw new QueryError('JSON_CTRL is not supported by this safekeeper', SqlState.FeatureNotSupported);
    default:
      throw new QueryError(`unsupported command ${query.kind}`);
  }
}
