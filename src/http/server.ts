// node:http around the route table: the bearer token checked first (when
// --http-auth-public-key-path is set), then bodies read whole (they are tiny),
// errors as {"msg": …}, x-request-id echoed or minted on every response.

import http from 'node:http';
import { randomUUID, type KeyObject } from 'node:crypto';
import { checkBearer, redactUrl } from '../auth/bearer.js';
import type { Claims } from '../auth/jwt.js';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log.js';
import { toJsonText } from './json.js';
import { HttpError, route, type ApiDeps, type ApiResponse } from './routes.js';

const MAX_BODY = 1 << 20;

/** Neon's exemptions from auth, compared with the whole request target: `/v1/status?x` needs a token. */
const OPEN_URIS = new Set(['/v1/status', '/metrics']);

export class HttpApiServer {
  private server: http.Server | null = null;

  constructor(
    private readonly deps: ApiDeps,
    private readonly logger: Logger,
    /** Keys of --http-auth-public-key-path; null: no auth. */
    private readonly authKeys: readonly KeyObject[] | null = null,
  ) {}

  async listen(host: string, port: number): Promise<AddressInfo> {
    const server = http.createServer((req, res) => void this.handle(req, res));
    server.keepAliveTimeout = 5000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    return server.address() as AddressInfo;
  }

  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    this.server = null;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const requestId = (req.headers['x-request-id'] as string | undefined) ?? randomUUID();
    let response: ApiResponse;
    try {
      // Before the body is read: nothing is buffered for a client without a valid token.
      const claims = this.authenticate(req);
      const body = await readBody(req);
      const url = new URL(req.url ?? '/', 'http://localhost');
      response = await route({ method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, body, claims }, this.deps);
    } catch (err) {
      const status = err instanceof HttpError ? err.status : 500;
      const msg = err instanceof Error ? err.message : String(err);
      if (status >= 500) this.logger.error({ method: req.method, url: redactUrl(req.url), err: msg }, 'HTTP request failed');
      if (status === 401 || status === 403) {
        const peer = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
        this.logger.warn({ peer, method: req.method, url: redactUrl(req.url), reason: (err as HttpError).reason ?? msg }, 'HTTP request refused');
      }
      response = { status, json: { msg } };
    }
    res.setHeader('x-request-id', requestId);
    if ('json' in response) {
      res.writeHead(response.status, { 'content-type': 'application/json' });
      res.end(toJsonText(response.json));
    } else {
      res.writeHead(response.status, { 'content-type': response.contentType });
      res.end(response.text);
    }
  }

  /** The token's claims; null when auth is off or the URI is exempt. Throws 401/403. */
  private authenticate(req: http.IncomingMessage): Claims | null {
    if (!this.authKeys || OPEN_URIS.has(req.url ?? '')) return null;
    const r = checkBearer(req.headers.authorization, this.authKeys, Math.floor(Date.now() / 1000));
    if (!r.ok) throw new HttpError(r.status, r.msg, r.reason);
    return r.claims;
  }
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new HttpError(400, 'request body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
