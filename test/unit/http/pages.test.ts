import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import Koa from 'koa';
import { describeApiScope, describePermissions } from '../../../src/http/interaction/scopes.ts';
import { createCsrf } from '../../../src/http/middleware/csrf.ts';
import { FormBodyError, readForm } from '../../../src/http/middleware/form-body.ts';
import { resolveInside, securityHeaders, serveStatic } from '../../../src/http/middleware/security-headers.ts';
import { createPages } from '../../../src/http/pages.ts';
import { loadCatalogs } from '../../../src/services/catalog-files.ts';
import { translate } from '../../../src/services/locales.ts';

const viewsDir = fileURLToPath(new URL('../../../views', import.meta.url));
const catalogs = loadCatalogs(`${viewsDir}/locales`);
const pages = createPages({ viewsDir, catalogs, siteName: 'Test IdP' });
const english = (
  p: { title: string; detail?: string; vars?: Record<string, string> },
  part: 'title' | 'detail' = 'title',
) => translate(catalogs.catalog('en'), p[part] ?? '', p.vars);

describe('pages and page middleware', () => {
  let server: ReturnType<Koa['listen']>;
  let base: string;

  before(async () => {
    const app = new Koa();
    app.use(securityHeaders());
    app.use(serveStatic({ root: `${viewsDir}/static` }));
    app.use(async (ctx) => {
      if (ctx.path === '/login') {
        pages.login(ctx, {
          uid: 'abc',
          csrf: 'tok',
          clientName: '<script>alert(1)</script>',
          username: '"><img src=x onerror=alert(1)>',
          error: 'login.failed',
          redirectUri: 'https://rp.example/cb?x=1',
        });
      } else if (ctx.path === '/consent') {
        pages.consent(ctx, {
          uid: 'abc',
          csrf: 'tok',
          clientName: 'Orders',
          scopes: ['openid', 'profile', 'offline_access', 'email'],
          resourceScopes: { 'https://api.example': ['orders:read'] },
          links: { policyUri: 'javascript:alert(1)', tosUri: 'https://rp.example/tos' },
          redirectUri: 'com.example.app:/cb',
        });
      } else if (ctx.path === '/form') {
        try {
          ctx.body = await readForm(ctx.req);
        } catch (err) {
          ctx.status = err instanceof FormBodyError ? err.status : 500;
        }
      } else {
        pages.error(ctx, { status: 400, text: 'error.expired' });
      }
    });
    server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  it('renders the login page escaped, with the contract field names and a strict CSP', async () => {
    const res = await fetch(`${base}/login`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/html/);
    const html = await res.text();
    assert.ok(!html.includes('<script>alert(1)</script>'));
    assert.ok(!html.includes('<img src=x'));
    assert.match(html, /<form class="form" method="post" action="\/interaction\/abc\/login"/);
    assert.match(html, /name="username"[^>]*autocomplete="username webauthn"/s);
    assert.match(html, /name="password" type="password" autocomplete="current-password"/);
    assert.match(html, /<input type="hidden" name="csrf" value="tok">/);
    assert.match(html, /role="alert"[^>]*>Incorrect username or password\.</);
    assert.match(html, /id="passkey-signin"/);
    assert.match(html, /<button type="submit"/);

    const csp = res.headers.get('content-security-policy') ?? '';
    const nonce = /'nonce-([^']+)'/.exec(csp)?.[1];
    assert.ok(nonce);
    assert.match(html, new RegExp(`<script src="/static/login.js" nonce="${nonce.replace(/[+/]/g, '\\$&')}"`));
    for (const directive of [
      "default-src 'none'",
      "style-src 'self'",
      "frame-ancestors 'none'",
      "base-uri 'none'",
      "form-action 'self' https://rp.example",
    ]) {
      assert.ok(csp.includes(directive), `${directive} in ${csp}`);
    }
    assert.equal(res.headers.get('x-frame-options'), 'DENY');
    assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(res.headers.get('cross-origin-opener-policy'), 'same-origin');
    assert.equal(res.headers.get('cache-control'), 'no-store');
  });

  it('gives each response its own nonce', async () => {
    const a = (await fetch(`${base}/login`)).headers.get('content-security-policy');
    const b = (await fetch(`${base}/login`)).headers.get('content-security-policy');
    assert.notEqual(a, b);
  });

  it('renders consent in plain words, with allow and deny, and only web links', async () => {
    const res = await fetch(`${base}/consent`);
    const html = await res.text();
    assert.match(html, /<button type="submit" name="decision" value="allow"/);
    assert.match(html, /<button type="submit" name="decision" value="deny"/);
    assert.match(html, /action="\/interaction\/abc\/confirm"/);
    assert.match(html, /See your profile/);
    assert.match(html, /See your email address/);
    assert.match(html, /Stay connected/);
    assert.match(html, /View orders/);
    assert.ok(!html.includes('javascript:'));
    assert.match(html, /href="https:\/\/rp.example\/tos"/);
    assert.match(res.headers.get('content-security-policy') ?? '', /form-action 'self' com\.example\.app:/);
  });

  it('renders the error page with its status and a way back', async () => {
    const res = await fetch(`${base}/nowhere`);
    assert.equal(res.status, 400);
    const html = await res.text();
    assert.match(html, /<h1>This sign-in page has expired<\/h1>/);
    assert.match(html, /<a class="button secondary" href="\/account">/);
  });

  it('serves static files with cache headers and revalidation, and nothing outside the folder', async () => {
    const res = await fetch(`${base}/static/app.css`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/css/);
    assert.match(res.headers.get('cache-control') ?? '', /max-age=/);
    const etag = res.headers.get('etag') ?? '';
    await res.text();
    const again = await fetch(`${base}/static/app.css`, { headers: { 'if-none-match': etag } });
    assert.equal(again.status, 304);
    for (const path of [
      '/static/..%2flogin.eta',
      '/static/%2e%2e%2flayout.eta',
      '/static/nope.css',
      '/static/.hidden',
    ]) {
      assert.equal((await fetch(`${base}${path}`)).status, 404, path);
    }
    assert.equal(resolveInside('/srv/static', '../etc/passwd'), undefined);
    assert.equal(resolveInside('/srv/static', 'a%00.css'), undefined);
    assert.equal(resolveInside('/srv/static', 'css/app.css'), '/srv/static/css/app.css');
  });

  it('reads urlencoded forms up to 16 KiB and refuses more, or other types', async () => {
    const ok = await fetch(`${base}/form`, { method: 'POST', body: new URLSearchParams({ a: 'é b', c: '1' }) });
    assert.deepEqual(await ok.json(), { a: 'é b', c: '1' });
    const big = await fetch(`${base}/form`, { method: 'POST', body: new URLSearchParams({ a: 'x'.repeat(17_000) }) });
    assert.equal(big.status, 413);
    const json = await fetch(`${base}/form`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    assert.equal(json.status, 415);
  });
});

describe('csrf tokens', () => {
  const csrf = createCsrf('k'.repeat(32));
  it('verifies the token of its interaction only', () => {
    const token = csrf.token('uid-1');
    assert.equal(csrf.verify('uid-1', token), true);
    assert.equal(csrf.verify('uid-2', token), false);
    assert.equal(csrf.verify('uid-1', undefined), false);
    assert.equal(csrf.verify('uid-1', `${token}x`), false);
    assert.equal(createCsrf('j'.repeat(32)).verify('uid-1', token), false);
  });
  it('refuses a short key', () => {
    assert.throws(() => createCsrf('short'));
  });
});

describe('scope descriptions', () => {
  it('maps API scopes to words', () => {
    assert.equal(english(describeApiScope('orders:read')), 'View orders');
    assert.equal(english(describeApiScope('user-profiles.write')), 'Create and change user profiles');
    assert.equal(english(describeApiScope('frobnicate')), 'Use “frobnicate”');
  });
  it('orders OIDC scopes familiarly and names the API', () => {
    const list = describePermissions(
      ['email', 'openid', 'custom'],
      { 'https://api': ['a:read'] },
      { 'https://api': 'Orders API' },
    );
    assert.deepEqual(
      list.map((p) => english(p)),
      ['Know who you are', 'See your email address', 'Use “custom”', 'View a'],
    );
    assert.equal(list[3] && english(list[3], 'detail'), 'In Orders API');
  });
});
