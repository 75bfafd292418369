// The page's files: URL paths resolve inside the public dir or not at all,
// content types by extension, and the repo-relative default location.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { contentTypeOf, defaultPublicDir, resolveInside } from '../../inspector/static.js';
import { repoRoot } from '../helpers/paths.js';

const root = path.resolve('/srv/inspector/public');

test('paths inside the public dir resolve to files there', () => {
  assert.equal(resolveInside(root, '/'), root);
  assert.equal(resolveInside(root, '/index.html'), path.join(root, 'index.html'));
  assert.equal(resolveInside(root, '/js/app.js'), path.join(root, 'js', 'app.js'));
  assert.equal(resolveInside(root, '/a%20b.css'), path.join(root, 'a b.css'));
  assert.equal(resolveInside(root, '//js//x.js'), path.join(root, 'js', 'x.js'));
});

test('traversal attempts resolve to nothing', () => {
  for (const p of ['/../etc/passwd', '/js/../../x', '/%2e%2e/secret', '/js%2F..%2F..%2Fsecret', '/..%5c..%5csecret', '/a%00.html', '/%E0%A4%A', '/..']) {
    assert.equal(resolveInside(root, p), null, p);
  }
});

test('content types by extension', () => {
  assert.equal(contentTypeOf('index.html'), 'text/html; charset=utf-8');
  assert.equal(contentTypeOf('app.JS'), 'text/javascript; charset=utf-8');
  assert.equal(contentTypeOf('m.mjs'), 'text/javascript; charset=utf-8');
  assert.equal(contentTypeOf('style.css'), 'text/css; charset=utf-8');
  assert.equal(contentTypeOf('icon.svg'), 'image/svg+xml');
  assert.equal(contentTypeOf('font.woff2'), 'font/woff2');
  assert.equal(contentTypeOf('blob.bin'), 'application/octet-stream');
});

test('the default public dir is <repo>/inspector/public, from source or dist', () => {
  assert.equal(defaultPublicDir(), path.join(repoRoot(), 'inspector', 'public'));
});
