// The page's static files (inspector/public/), served read-only over HTTP.
// The directory is found from the repository root, so the same code works
// from inspector/ under tsx and from dist/inspector/ when compiled.

import { createReadStream, existsSync, promises as fs } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
};

export function contentTypeOf(file: string): string {
  return CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
}

/** `<repo>/inspector/public`: the nearest directory above this module holding package.json. */
export function defaultPublicDir(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, 'package.json'))) return path.join(dir, 'inspector', 'public');
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`inspector: no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

/**
 * The file a URL path names inside `root`, or null when it would leave it (`..`, encoded
 * slashes or backslashes, NUL bytes, malformed escapes).
 */
export function resolveInside(root: string, urlPath: string): string | null {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return null;
  const segments = decoded.split('/');
  if (segments.some((s) => s === '..')) return null;
  const resolved = path.resolve(root, '.' + path.posix.normalize('/' + decoded));
  const base = path.resolve(root);
  if (resolved !== base && !resolved.startsWith(base + path.sep)) return null;
  return resolved;
}

function plain(res: ServerResponse, status: number, text: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text), ...extra });
  res.end(text);
}

export async function serveStatic(req: IncomingMessage, res: ServerResponse, root: string, urlPath: string): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    plain(res, 405, `method ${req.method} not allowed (GET or HEAD)\n`, { allow: 'GET, HEAD' });
    return;
  }
  let file = resolveInside(root, urlPath);
  if (file === null) {
    plain(res, 404, 'not found\n');
    return;
  }
  let stat = await fs.stat(file).catch(() => null);
  if (stat?.isDirectory()) {
    file = path.join(file, 'index.html');
    stat = await fs.stat(file).catch(() => null);
  }
  if (!stat?.isFile()) {
    const hint = urlPath === '/' ? `not found: the inspector page is missing (${path.join(root, 'index.html')})\n` : 'not found\n';
    plain(res, 404, hint);
    return;
  }
  res.writeHead(200, {
    'content-type': contentTypeOf(file),
    'content-length': stat.size,
    // A developer reloading after a rebuild must get the new page.
    'cache-control': 'no-cache',
    'x-content-type-options': 'nosniff',
  });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  const stream = createReadStream(file);
  stream.on('error', () => res.destroy());
  stream.pipe(res);
}
