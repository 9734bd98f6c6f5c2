import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { extname, resolve, sep } from 'node:path';
import type { Context, Middleware } from 'koa';
import { AppError } from '../../errors.ts';
import { writeError } from './errors.ts';

const CSP = 'content-security-policy';

/**
 * The policy every response starts with. There is no `form-action` here on purpose: browsers
 * apply `form-action` to every redirect that follows a form POST (the sign-in POST answers 303
 * to the authorization endpoint, which redirects to the client's `redirect_uri`), and
 * oidc-provider's `response_mode=form_post` page posts to the client directly. Our own pages add
 * `form-action 'self' <the redirect target they lead to>` through `restrictFormAction` when
 * they render, where that target is known.
 */
const basePolicy = (nonce: string) =>
  [
    "default-src 'none'",
    `script-src 'self' 'nonce-${nonce}'`,
    "style-src 'self'",
    // the passkey script fetches WebAuthn options and posts responses to our own origin
    "connect-src 'self'",
    "img-src 'self' data:",
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ');

const HEADERS: Record<string, string> = {
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'cross-origin-opener-policy': 'same-origin',
};

// Nonces are cut from a pool of CSPRNG output: one randomBytes call per 256 nonces instead of
// one per response (a small synchronous randomBytes costs more than the slice it returns).
let pool = randomBytes(16 * 256);
let offset = 0;
function freshNonce(): string {
  if (offset === pool.length) {
    pool = randomBytes(pool.length);
    offset = 0;
  }
  offset += 16;
  return pool.toString('base64', offset - 16, offset);
}

/**
 * oidc-provider's JSON endpoints that are only ever POSTed to by clients: their answers are
 * never rendered, so they need no page policy (and the token endpoint is the hot path).
 */
const API_POSTS = new Set(['/token', '/token/introspection', '/token/revocation', '/request', '/reg']);

/**
 * Sets a fresh CSP nonce on `ctx.state.cspNonce` and the security headers, before the rest of
 * the chain runs: oidc-provider reads the policy we set and adds the hash of its own inline
 * script (form_post) to it. The headers go on every response: on JSON they cost nothing and
 * forbid framing and sniffing there too.
 */
export function securityHeaders(): Middleware {
  // not async: one promise and one frame less on every request
  return (ctx, next) => {
    if (ctx.method === 'POST' && API_POSTS.has(ctx.path)) ctx.set('X-Content-Type-Options', 'nosniff');
    else ensureSecurityHeaders(ctx);
    return next();
  };
}

/** Sets the headers if nothing has yet (a page rendered outside `securityHeaders`, or after an error reset them). */
export function ensureSecurityHeaders(ctx: Context): string {
  const existing = cspNonce(ctx);
  if (existing !== undefined && ctx.response.get(CSP)) return existing;
  const nonce = existing ?? freshNonce();
  ctx.state.cspNonce = nonce;
  ctx.set(CSP, basePolicy(nonce));
  for (const [name, value] of Object.entries(HEADERS)) ctx.set(name, value);
  return nonce;
}

/**
 * The nonce of this response. oidc-provider calls our page hooks with its own Koa context,
 * whose `state` is not ours, so fall back to the nonce in the header already set on the shared response.
 */
function cspNonce(ctx: Context): string | undefined {
  const fromState = ctx.state?.cspNonce;
  if (typeof fromState === 'string') return fromState;
  const match = /'nonce-([A-Za-z0-9+/=]+)'/.exec(String(ctx.response.get(CSP) ?? ''));
  return match?.[1];
}

/** A CSP source expression for where a form (and the redirects after it) may go. */
function formActionSource(url: string): string | undefined {
  const parsed = URL.parse(url);
  if (!parsed) return undefined;
  if (parsed.protocol === 'http:' || parsed.protocol === 'https:') return parsed.origin;
  // a native app's private-use scheme (RFC 8252 §7.1): a scheme source
  return /^[a-z][a-z0-9+.-]*:$/i.test(parsed.protocol) ? parsed.protocol : undefined;
}

/**
 * Adds `form-action 'self' <targets>` to this response's policy: forms on the page may post to
 * us, and the redirects after the post may reach `targets` (the client's redirect URI).
 */
export function restrictFormAction(ctx: Context, targets: Iterable<string> = []): void {
  const policy = String(ctx.response.get(CSP) ?? '');
  if (policy === '' || /(^|;)\s*form-action\s/.test(policy)) return;
  const sources = new Set(["'self'"]);
  for (const target of targets) {
    const source = formActionSource(target);
    if (source) sources.add(source);
  }
  ctx.set(CSP, `${policy}; form-action ${[...sources].join(' ')}`);
}

const TYPES: Record<string, string> = {
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/**
 * Serves files under `root` at `prefix` (GET and HEAD). Only known file types, no dotfiles,
 * nothing outside `root`; an ETag from size and mtime answers revalidation with 304.
 */
export function serveStatic(options: { root: string; prefix?: string; maxAgeSeconds?: number }): Middleware {
  const root = resolve(options.root);
  const prefix = options.prefix ?? '/static/';
  const maxAge = options.maxAgeSeconds ?? 3600;

  return async (ctx, next) => {
    if (!ctx.path.startsWith(prefix)) return next();
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
      ctx.set('allow', 'GET, HEAD');
      return writeError(ctx, new AppError('method_not_allowed', 405, 'use GET or HEAD'));
    }
    const file = resolveInside(root, ctx.path.slice(prefix.length));
    const type = file && TYPES[extname(file).toLowerCase()];
    const info = file && type ? await stat(file).catch(() => undefined) : undefined;
    if (!file || !type || !info?.isFile()) return writeError(ctx, new AppError('not_found', 404, 'no such file'));
    const etag = `W/"${info.size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}"`;
    ctx.set('etag', etag);
    ctx.set('cache-control', `public, max-age=${maxAge}`);
    ctx.set('last-modified', info.mtime.toUTCString());
    if (ctx.get('if-none-match') === etag) {
      ctx.status = 304;
      return;
    }
    ctx.status = 200;
    ctx.type = type;
    ctx.length = info.size;
    // Koa sends no body for HEAD; opening the file then would only leak a descriptor
    if (ctx.method === 'GET') ctx.body = createReadStream(file);
  };
}

/** The absolute path `requested` (URL-encoded, relative) designates inside `root`, or undefined when it would leave it. */
export function resolveInside(root: string, requested: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(requested);
  } catch {
    return undefined;
  }
  if (decoded === '' || decoded.includes('\0') || decoded.includes('\\')) return undefined;
  const segments = decoded.split('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..' || s.startsWith('.'))) return undefined;
  const full = resolve(root, ...segments);
  return full.startsWith(root + sep) ? full : undefined;
}
