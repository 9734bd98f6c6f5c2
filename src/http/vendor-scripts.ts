import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Middleware } from 'koa';

const SIMPLEWEBAUTHN_PATH = '/static/vendor/simplewebauthn-browser.js';

/**
 * Serves @simplewebauthn/browser's UMD bundle from node_modules at `SIMPLEWEBAUTHN_PATH`: our
 * pages load nothing from third parties, and nothing is copied into git. Read once
 * at start; the version in the ETag follows the installed package.
 */
export function vendorScripts(): Middleware {
  const entry = fileURLToPath(import.meta.resolve('@simplewebauthn/browser'));
  const bundle = readFileSync(new URL('../dist/bundle/index.umd.min.js', `file://${entry}`));
  const etag = `"${createHash('sha256').update(bundle).digest('base64url').slice(0, 22)}"`;
  return async (ctx, next) => {
    if (ctx.path !== SIMPLEWEBAUTHN_PATH) return next();
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
      ctx.status = 405;
      ctx.set('allow', 'GET, HEAD');
      return;
    }
    ctx.set('etag', etag);
    ctx.set('cache-control', 'public, max-age=3600');
    if (ctx.get('if-none-match') === etag) {
      ctx.status = 304;
      return;
    }
    ctx.type = 'text/javascript; charset=utf-8';
    ctx.body = bundle;
  };
}
