// Who may watch: with --http-auth-public-key-path set, every inspector request
// (the page and its files, /stats, /ws in both formats) needs a
// `safekeeperdata` token. A browser cannot put headers on a WebSocket or on
// the page's own script requests, so besides `Authorization: Bearer` the
// token may come as `?token=`; the page answering such a request sets it as an
// HttpOnly cookie, which the browser then sends with the page's files and its
// WebSocket. Tokens never reach a log: URLs are redacted first.

import type { KeyObject } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { FORBIDDEN_MESSAGE, TOKEN_PARAM, checkBearer, checkToken } from '../src/auth/bearer.js';
import { permissionError } from '../src/auth/permission.js';

export const TOKEN_COOKIE = 'sk_inspector_token';

export type ViewerAuth =
  | { ok: true; /** Set-Cookie for a token that came in the URL. */ setCookie: string | null }
  | { ok: false; status: 401 | 403; msg: string; reason: string };

function cookieToken(req: IncomingMessage): string | null {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === TOKEN_COOKIE) return part.slice(eq + 1).trim();
  }
  return null;
}

export function authorizeViewer(req: IncomingMessage, url: URL, keys: readonly KeyObject[], nowSeconds: number): ViewerAuth {
  const fromUrl = url.searchParams.get(TOKEN_PARAM);
  const fromCookie = cookieToken(req);
  const r =
    req.headers.authorization !== undefined || (fromUrl === null && fromCookie === null)
      ? checkBearer(req.headers.authorization, keys, nowSeconds)
      : checkToken(fromUrl ?? fromCookie!, keys, nowSeconds);
  if (!r.ok) return r;
  const reason = permissionError(r.claims, null);
  if (reason) return { ok: false, status: 403, msg: FORBIDDEN_MESSAGE, reason };
  const setCookie = fromUrl !== null ? `${TOKEN_COOKIE}=${fromUrl}; HttpOnly; SameSite=Strict; Path=/` : null;
  return { ok: true, setCookie };
}
