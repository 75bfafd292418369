// The HTTP API of the first scope (observability.md §2.2): status, metrics,
// timeline create/list/status/delete, tenant delete, checkpoint, term bump.
// Handlers are plain functions of (request, params) → response, so the router
// stays a table.

import { FORBIDDEN_MESSAGE } from '../auth/bearer.js';
import type { Claims } from '../auth/jwt.js';
import { permissionError } from '../auth/permission.js';
import { isHexId, type Ttid } from '../ids.js';
import { parseLsn } from '../lsn.js';
import type { SafekeeperMetrics } from '../metrics.js';
import { timelineStatus } from '../timeline/status.js';
import { MembershipError, type Timelines } from '../timeline/timelines.js';
import { formatLsn } from '../lsn.js';
import type { MembershipConfiguration, SafekeeperId } from '../protocol/membership.js';
import { mconfJsonValue } from '../storage/control-file-json.js';
import { parseJsonBigintSafe, type JsonValue } from './json.js';
import { configureFailpoint, failpointsEnabled } from '../failpoints.js';

export class HttpError extends Error {
  /** `reason`: what the log says when it differs from what the client is told (auth refusals). */
  constructor(readonly status: number, message: string, readonly reason?: string) {
    super(message);
  }
}

export interface ApiRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  body: string;
  /** The bearer token's claims; null when HTTP auth is off or the URI is exempt. */
  claims: Claims | null;
}

export type ApiResponse =
  | { status: number; json: JsonValue }
  | { status: number; text: string; contentType: string };

export interface ApiDeps {
  nodeId: bigint;
  timelines: Timelines;
  metrics: SafekeeperMetrics;
}

type Handler = (req: ApiRequest, params: string[], deps: ApiDeps) => Promise<ApiResponse>;

interface Route {
  method: string;
  pattern: RegExp;
  handler: Handler;
}

const SEG = '([^/]+)';

function ttidFrom(params: string[]): Ttid {
  const [tenantId, timelineId] = params;
  if (!isHexId(tenantId)) throw new HttpError(400, `failed to parse tenant_id: '${tenantId}'`);
  if (!isHexId(timelineId)) throw new HttpError(400, `failed to parse timeline_id: '${timelineId}'`);
  return { tenantId: tenantId.toLowerCase(), timelineId: timelineId.toLowerCase() };
}

/**
 * Neon's check_permission for a route: `tenantId` for routes a tenant token may use on its own
 * tenant, null for safekeeperdata-only ones. Nothing is checked without claims (auth off).
 */
function permit(req: ApiRequest, tenantId: string | null): void {
  if (!req.claims) return;
  const reason = permissionError(req.claims, tenantId);
  if (reason) throw new HttpError(403, FORBIDDEN_MESSAGE, reason);
}

/** The path's ids (400 if bad), then the tenant permission (403): Neon's order on tenant routes. */
function tenantRoute(req: ApiRequest, params: string[]): Ttid {
  const ttid = ttidFrom(params);
  permit(req, ttid.tenantId);
  return ttid;
}

function jsonBody(req: ApiRequest): Record<string, unknown> {
  if (req.body.trim() === '') throw new HttpError(400, 'missing request body');
  let parsed: unknown;
  try {
    parsed = parseJsonBigintSafe(req.body);
  } catch (err) {
    throw new HttpError(400, `malformed JSON body: ${(err as Error).message}`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new HttpError(400, 'request body must be a JSON object');
  return parsed as Record<string, unknown>;
}

function noBody(req: ApiRequest): void {
  if (req.body.length > 0) throw new HttpError(400, 'this request takes no body');
}

function onlyLocal(req: ApiRequest): void {
  const v = req.query.get('only_local');
  if (v !== null && v !== 'true' && v !== 'false') throw new HttpError(400, `only_local must be true or false, got '${v}'`);
}

function u64Field(body: Record<string, unknown>, name: string, required: boolean, fallback = 0n): bigint {
  const v = body[name];
  if (v === undefined || v === null) {
    if (required) throw new HttpError(400, `missing field ${name}`);
    return fallback;
  }
  if (typeof v === 'bigint' && v >= 0n && v < 1n << 64n) return v;
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  throw new HttpError(400, `${name} must be an unsigned 64-bit integer`);
}

function lsnField(body: Record<string, unknown>, name: string, required: boolean): bigint | undefined {
  const v = body[name];
  if (v === undefined || v === null) {
    if (required) throw new HttpError(400, `missing field ${name}`);
    return undefined;
  }
  if (typeof v !== 'string') throw new HttpError(400, `${name} must be an "X/Y" LSN string`);
  try {
    return parseLsn(v);
  } catch (err) {
    throw new HttpError(400, (err as Error).message);
  }
}

function u32Of(v: unknown, name: string, max = 0xffffffff): number {
  const n = typeof v === 'bigint' ? v : typeof v === 'number' && Number.isSafeInteger(v) ? BigInt(v) : null;
  if (n === null || n < 0n || n > BigInt(max)) throw new HttpError(400, `${name} must be an integer between 0 and ${max}`);
  return Number(n);
}

/** The mconf JSON of protocol-v3.md §3 (new_members null, absent or a list; duplicates are not checked, as in Neon). */
function parseMconf(v: unknown, name = 'mconf'): MembershipConfiguration {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new HttpError(400, `${name} must be a JSON object`);
  const o = v as Record<string, unknown>;
  const set = (x: unknown, field: string): SafekeeperId[] => {
    if (!Array.isArray(x)) throw new HttpError(400, `${name}.${field} must be a list`);
    return x.map((m, i) => {
      if (!m || typeof m !== 'object' || Array.isArray(m)) throw new HttpError(400, `${name}.${field}[${i}] must be an object`);
      const e = m as Record<string, unknown>;
      if (typeof e.host !== 'string') throw new HttpError(400, `${name}.${field}[${i}].host must be a string`);
      return { id: u64Field(e, 'id', true), host: e.host, pgPort: u32Of(e.pg_port, `${name}.${field}[${i}].pg_port`, 0xffff) };
    });
  };
  return {
    generation: u32Of(o.generation, `${name}.generation`),
    members: set(o.members, 'members'),
    newMembers: o.new_members === undefined || o.new_members === null ? null : set(o.new_members, 'new_members'),
  };
}

/** Neon's 403/409 refusals of membership changes. */
async function membershipCall<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof MembershipError) {
      throw new HttpError(err.kind === 'forbidden' ? 403 : 409, `${err.kind === 'forbidden' ? 'Forbidden' : 'Conflict'}: ${err.message}`);
    }
    throw err;
  }
}

/** POST /v1/tenant/timeline with `mconf` (protocol-v3.md §3.1). */
async function createWithMconf(body: Record<string, unknown>, ttid: Ttid, deps: ApiDeps): Promise<ApiResponse> {
  const mconf = parseMconf(body.mconf);
  const pgVersion = u32Of(body.pg_version ?? null, 'pg_version');
  // 0 is Neon's 500 below; another value outside 14-17 would make Neon panic when it loads the file.
  if (pgVersion !== 0 && (pgVersion < 140000 || pgVersion > 179999)) {
    throw new HttpError(400, `pg_version ${pgVersion} is not a supported PostgreSQL version (14-17)`);
  }
  const systemId = u64Field(body, 'system_id', false);
  const walSegSize = Number(u64Field(body, 'wal_seg_size', false, 16n * 1024n * 1024n));
  const startLsn = lsnField(body, 'start_lsn', true)!;
  const commitLsn = lsnField(body, 'commit_lsn', false) ?? startLsn;
  try {
    await deps.timelines.getOrCreate(ttid, { pgVersion, systemId, walSegSize }, commitLsn, startLsn, { mconf, startLsn, commitLsn });
  } catch (err) {
    throw new HttpError(500, (err as Error).message);
  }
  return { status: 200, json: null };
}

function requireTimeline(deps: ApiDeps, ttid: Ttid) {
  const tl = deps.timelines.get(ttid);
  if (!tl) throw new HttpError(404, `NotFound: timeline ${ttid.tenantId}/${ttid.timelineId} not found`);
  return tl;
}

const routes: Route[] = [
  {
    method: 'GET',
    pattern: /^\/metrics$/,
    handler: async (_req, _p, deps) => {
      const { contentType, body } = await deps.metrics.render();
      return { status: 200, text: body, contentType };
    },
  },
  {
    // Exempt from auth on its exact URI; with anything added (a query) it needs a safekeeperdata token.
    method: 'GET',
    pattern: /^\/v1\/status$/,
    handler: async (req, _p, deps) => {
      permit(req, null);
      return { status: 200, json: { id: deps.nodeId } };
    },
  },
  {
    method: 'POST',
    pattern: /^\/v1\/tenant\/timeline$/,
    handler: async (req, _p, deps) => {
      const body = jsonBody(req);
      const tenantId = body.tenant_id;
      const timelineId = body.timeline_id;
      if (typeof tenantId !== 'string' || !isHexId(tenantId)) throw new HttpError(400, 'tenant_id must be 32 hex chars');
      if (typeof timelineId !== 'string' || !isHexId(timelineId)) throw new HttpError(400, 'timeline_id must be 32 hex chars');
      const ttid = { tenantId: tenantId.toLowerCase(), timelineId: timelineId.toLowerCase() };
      permit(req, ttid.tenantId);
      // Told apart by mconf: the v3 body (mconf, start_lsn) or today's v2 one.
      if (body.mconf !== undefined) return createWithMconf(body, ttid, deps);
      const pgVersion = Number(u64Field(body, 'pg_version', true));
      const systemId = u64Field(body, 'system_id', false);
      const walSegSize = Number(u64Field(body, 'wal_seg_size', false, 16n * 1024n * 1024n));
      const commitLsn = lsnField(body, 'commit_lsn', true)!;
      const seg = BigInt(walSegSize || 1);
      const localStartLsn = lsnField(body, 'local_start_lsn', false) ?? commitLsn - (commitLsn % seg);
      try {
        await deps.timelines.getOrCreate(ttid, { pgVersion, systemId, walSegSize }, commitLsn, localStartLsn);
      } catch (err) {
        throw new HttpError(500, (err as Error).message);
      }
      return { status: 200, json: null };
    },
  },
  {
    method: 'GET',
    pattern: /^\/v1\/tenant\/timeline$/,
    handler: async (req, _p, deps) => {
      permit(req, null);
      return {
        status: 200,
        json: deps.timelines.list().map((t) => ({ tenant_id: t.ttid.tenantId, timeline_id: t.ttid.timelineId })),
      };
    },
  },
  {
    method: 'GET',
    pattern: new RegExp(`^/v1/tenant/${SEG}/timeline/${SEG}$`),
    handler: async (req, params, deps) => {
      const ttid = tenantRoute(req, params);
      return { status: 200, json: timelineStatus(requireTimeline(deps, ttid)) };
    },
  },
  {
    method: 'DELETE',
    pattern: new RegExp(`^/v1/tenant/${SEG}/timeline/${SEG}$`),
    handler: async (req, params, deps) => {
      const ttid = tenantRoute(req, params);
      onlyLocal(req);
      noBody(req);
      const r = await deps.timelines.delete(ttid);
      return { status: 200, json: { dir_existed: r.dir_existed, was_active: r.was_active } };
    },
  },
  {
    method: 'DELETE',
    pattern: new RegExp(`^/v1/tenant/${SEG}$`),
    handler: async (req, params, deps) => {
      const [tenantId] = params;
      if (!isHexId(tenantId)) throw new HttpError(400, `failed to parse tenant_id: '${tenantId}'`);
      permit(req, tenantId.toLowerCase());
      onlyLocal(req);
      noBody(req);
      const out: Record<string, JsonValue> = {};
      for (const tl of deps.timelines.list().filter((t) => t.ttid.tenantId === tenantId.toLowerCase())) {
        const r = await deps.timelines.delete(tl.ttid);
        out[tl.ttid.timelineId] = { dir_existed: r.dir_existed, was_active: r.was_active };
      }
      await deps.timelines.deleteTenantDir(tenantId.toLowerCase());
      return { status: 200, json: out };
    },
  },
  {
    method: 'PUT',
    pattern: new RegExp(`^/v1/tenant/${SEG}/timeline/${SEG}/membership$`),
    handler: async (req, params, deps) => {
      // Neon's order: path ids, permission, timeline, body, membership, switch.
      const ttid = tenantRoute(req, params);
      const tl = requireTimeline(deps, ttid);
      const mconf = parseMconf(jsonBody(req), 'body');
      const r = await membershipCall(() => deps.timelines.membershipSwitch(tl, mconf));
      return {
        status: 200,
        json: {
          previous_conf: mconfJsonValue(r.previous),
          current_conf: mconfJsonValue(r.current),
          last_log_term: r.lastLogTerm,
          flush_lsn: formatLsn(r.flushLsn),
        },
      };
    },
  },
  {
    method: 'PUT',
    pattern: new RegExp(`^/v1/tenant/${SEG}/timeline/${SEG}/exclude$`),
    handler: async (req, params, deps) => {
      const ttid = tenantRoute(req, params);
      const mconf = parseMconf(jsonBody(req), 'body');
      return { status: 200, json: await membershipCall(() => deps.timelines.exclude(ttid, mconf)) };
    },
  },
  {
    // Crash tests only (SAFEKEEPER_TESTING_FAILPOINTS=1): [{"name": …, "actions": "exit" | "off"}].
    method: 'PUT',
    pattern: /^\/v1\/failpoints$/,
    handler: async (req) => {
      permit(req, null);
      if (!failpointsEnabled) throw new HttpError(404, 'NotFound: failpoints are disabled');
      const body = parseJsonBigintSafe(req.body) as unknown;
      if (!Array.isArray(body)) throw new HttpError(400, 'body must be a list of {"name", "actions"}');
      for (const fp of body as Array<{ name?: unknown; actions?: unknown }>) {
        try {
          configureFailpoint(String(fp.name), String(fp.actions));
        } catch (err) {
          throw new HttpError(400, (err as Error).message);
        }
      }
      return { status: 200, json: null };
    },
  },
  {
    method: 'POST',
    pattern: new RegExp(`^/v1/tenant/${SEG}/timeline/${SEG}/checkpoint$`),
    handler: async (req, params, deps) => {
      permit(req, null); // safekeeperdata only, checked before the ids as in Neon
      await requireTimeline(deps, ttidFrom(params)).checkpoint();
      return { status: 200, json: null };
    },
  },
  {
    method: 'POST',
    pattern: new RegExp(`^/v1/tenant/${SEG}/timeline/${SEG}/term_bump$`),
    handler: async (req, params, deps) => {
      const ttid = tenantRoute(req, params);
      const body = jsonBody(req);
      const term = body.term === undefined || body.term === null ? undefined : u64Field(body, 'term', true);
      const tl = requireTimeline(deps, ttid);
      const r = await tl.run((a) => a.termBump(term));
      return { status: 200, json: { previous_term: r.previousTerm, current_term: r.currentTerm } };
    },
  },
];

export async function route(req: ApiRequest, deps: ApiDeps): Promise<ApiResponse> {
  for (const r of routes) {
    if (r.method !== req.method) continue;
    const m = r.pattern.exec(req.path);
    if (m) return r.handler(req, m.slice(1).map(decodeURIComponent), deps);
  }
  throw new HttpError(404, `NotFound: no route for ${req.method} ${req.path}`);
}
