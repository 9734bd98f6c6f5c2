import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as oidc from 'openid-client';
import type { Browser, BrowserContext, BrowserContextOptions, Page } from 'playwright-core';
import { authorizationRequest, launchChromium, startRelyingParty } from '../helpers/browser.ts';
import { randomName, startTestServer, type TestServer } from '../helpers/server.ts';

const SCREENSHOTS = join(tmpdir(), 'idp-e2e-screenshots');
const PASSWORD = 'correct horse battery staple';

/** openid-client's error for an OAuth error response carries the code in `error` */
const invalidGrant = (err: unknown) => (err as { error?: string }).error === 'invalid_grant';

describe('browser sign-in (Chromium, openid-client as the relying party)', () => {
  let server: TestServer;
  let rp: Awaited<ReturnType<typeof startRelyingParty>>;
  let browser: Browser;
  let callback: string;
  let username: string;
  let userId: string;

  /** registers a client through the admin API and discovers it with openid-client */
  const client = async (extra: Record<string, unknown> = {}) => {
    const res = await server.admin('POST', '/clients', {
      client_name: 'Orders <Web>',
      redirect_uris: [callback],
      post_logout_redirect_uris: [`${rp.url}/signed-out`],
      grant_types: ['authorization_code', 'refresh_token'],
      scope: 'openid profile email offline_access',
      ...extra,
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const body = res.body as { client_id: string; client_secret: string };
    const config = await oidc.discovery(
      new URL(server.issuer),
      body.client_id,
      undefined,
      oidc.ClientSecretBasic(body.client_secret),
      { execute: [oidc.allowInsecureRequests] },
    );
    return { config, clientId: body.client_id };
  };

  const authorize = (config: oidc.Configuration, params: Record<string, string> = {}) =>
    authorizationRequest(config, callback, { scope: 'openid profile email', ...params });

  const signIn = async (page: Page, name: string, password: string) => {
    await page.fill('input[name="username"]', name);
    await page.fill('input[name="password"]', password);
    await page.click('button[type="submit"]');
    await page.waitForLoadState();
  };

  const onCallback = (page: Page) => page.waitForURL((u) => u.href.startsWith(callback));

  const newPage = async (options: BrowserContextOptions = {}): Promise<[BrowserContext, Page]> => {
    const context = await browser.newContext(options);
    return [context, await context.newPage()];
  };

  before(async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    server = await startTestServer();
    rp = await startRelyingParty();
    callback = `${rp.url}/callback`;
    browser = await launchChromium();
    username = randomName('alice');
    const created = await server.admin<{ id: string }>('POST', '/users', {
      username,
      email: `${username}@example.org`,
      emailVerified: true,
      password: PASSWORD,
      name: 'Alice Liddell',
      givenName: 'Alice',
      familyName: 'Liddell',
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    userId = created.body.id;
  });

  after(async () => {
    await browser?.close();
    await rp?.close();
    await server?.close();
  });

  it('signs in with a password, consents, and the application gets tokens that validate', async () => {
    const { config } = await client();
    const { url, checks } = await authorize(config, {
      scope: 'openid profile email offline_access',
      prompt: 'consent',
    });
    const [context, page] = await newPage();
    const posts: number[] = [];
    page.on('response', (r) => {
      if (r.request().method() === 'POST') posts.push(r.status());
    });

    const first = await page.goto(url.href);
    assert.equal(first?.status(), 200);
    assert.match(page.url(), /\/interaction\/[^/]+$/);
    const headers = first?.headers() ?? {};
    assert.match(headers['content-security-policy'] ?? '', /frame-ancestors 'none'/);
    assert.match(headers['content-security-policy'] ?? '', /script-src 'self' 'nonce-/);
    assert.equal(headers['x-frame-options'], 'DENY');
    assert.equal(await page.getAttribute('input[name="username"]', 'autocomplete'), 'username webauthn');
    assert.equal(await page.locator('#passkey-signin').count(), 1);
    await page.screenshot({ path: join(SCREENSHOTS, 'login.png'), fullPage: true });

    await signIn(page, username.toUpperCase(), PASSWORD);
    assert.equal(posts[0], 303, 'the sign-in POST answers 303');
    await page.waitForSelector('button[name="decision"][value="allow"]');
    assert.match((await page.textContent('h1')) ?? '', /Orders <Web>/);
    assert.match((await page.textContent('main')) ?? '', /See your email address/);
    assert.match((await page.textContent('main')) ?? '', /Stay connected/);
    await page.screenshot({ path: join(SCREENSHOTS, 'consent.png'), fullPage: true });

    await Promise.all([onCallback(page), page.click('button[name="decision"][value="allow"]')]);
    assert.equal(posts[1], 303, 'the consent POST answers 303');
    const returned = new URL(page.url());
    const tokens = await oidc.authorizationCodeGrant(config, returned, checks);
    const claims = tokens.claims();
    assert.equal(claims?.sub, userId);
    assert.ok(tokens.refresh_token, 'offline_access gives a refresh token');

    const info = await oidc.fetchUserInfo(config, tokens.access_token, userId);
    assert.equal(info.preferred_username, username);
    assert.equal(info.email, `${username}@example.org`);
    assert.equal(info.email_verified, true);
    assert.equal(info.given_name, 'Alice');

    // consent is remembered: the same request again goes straight back to the application
    const again = await authorize(config);
    await Promise.all([onCallback(page), page.goto(again.url.href)]);
    assert.ok(new URL(page.url()).searchParams.get('code'));

    // refresh rotates
    const second = await oidc.refreshTokenGrant(config, tokens.refresh_token);
    assert.ok(second.refresh_token && second.refresh_token !== tokens.refresh_token);

    // RFC 9700 §4.2.4 / DESIGN §6: a replayed code is refused and revokes what it issued
    await assert.rejects(oidc.authorizationCodeGrant(config, returned, checks), invalidGrant);
    await assert.rejects(oidc.refreshTokenGrant(config, second.refresh_token ?? ''), invalidGrant);
    await context.close();
  });

  it('revokes the grant when a rotated refresh token is used again', async () => {
    const { config } = await client({ first_party: true });
    const { url, checks } = await authorize(config, { scope: 'openid offline_access', prompt: 'consent' });
    const [context, page] = await newPage();
    await page.goto(url.href);
    await Promise.all([onCallback(page), signIn(page, username, PASSWORD)]);
    const tokens = await oidc.authorizationCodeGrant(config, new URL(page.url()), checks);
    assert.ok(tokens.refresh_token);
    const second = await oidc.refreshTokenGrant(config, tokens.refresh_token);
    assert.ok(second.refresh_token && second.refresh_token !== tokens.refresh_token);
    await assert.rejects(oidc.refreshTokenGrant(config, tokens.refresh_token), invalidGrant);
    await assert.rejects(oidc.refreshTokenGrant(config, second.refresh_token ?? ''), invalidGrant);
    await context.close();
  });

  it('answers a wrong password and an unknown user with the same page', async () => {
    const { config } = await client();
    const [context, page] = await newPage();
    await page.goto((await authorize(config)).url.href);

    await signIn(page, username, 'not the password at all');
    const wrong = await page.textContent('[role="alert"]');
    const wrongValue = await page.inputValue('input[name="username"]');
    await page.screenshot({ path: join(SCREENSHOTS, 'login-failed.png'), fullPage: true });

    await signIn(page, randomName('nobody'), 'not the password at all');
    const unknown = await page.textContent('[role="alert"]');

    assert.equal(wrong?.trim(), 'Incorrect username or password.');
    assert.equal(unknown, wrong);
    assert.equal(wrongValue, username, 'the username stays filled in');
    await context.close();
  });

  it('works without JavaScript (on a small screen, in dark mode)', async () => {
    const { config } = await client({ first_party: true });
    const [context, page] = await newPage({
      javaScriptEnabled: false,
      viewport: { width: 375, height: 740 },
      colorScheme: 'dark',
    });
    await page.goto((await authorize(config)).url.href);
    assert.equal(await page.isVisible('#passkey-signin'), false);
    await page.screenshot({ path: join(SCREENSHOTS, 'login-mobile-dark.png'), fullPage: true });
    await Promise.all([onCallback(page), signIn(page, username, PASSWORD)]);
    assert.ok(new URL(page.url()).searchParams.get('code'), 'a first-party client skips consent');
    await context.close();
  });

  it('sends the user back with access_denied when consent is denied', async () => {
    const { config } = await client();
    const { url, checks } = await authorize(config);
    const [context, page] = await newPage();
    await page.goto(url.href);
    await signIn(page, username, PASSWORD);
    await Promise.all([onCallback(page), page.click('button[name="decision"][value="deny"]')]);
    const back = new URL(page.url());
    assert.equal(back.searchParams.get('error'), 'access_denied');
    assert.equal(back.searchParams.get('state'), checks.expectedState);
    assert.equal(back.searchParams.get('iss'), server.issuer, 'RFC 9207 iss parameter');
    await context.close();
  });

  it('signs out through RP-initiated logout with a confirmation page', async () => {
    const { config } = await client({ first_party: true });
    const { url, checks } = await authorize(config);
    const [context, page] = await newPage();
    await page.goto(url.href);
    await Promise.all([onCallback(page), signIn(page, username, PASSWORD)]);
    const tokens = await oidc.authorizationCodeGrant(config, new URL(page.url()), checks);

    const logout = oidc.buildEndSessionUrl(config, {
      id_token_hint: tokens.id_token ?? '',
      post_logout_redirect_uri: `${rp.url}/signed-out`,
    });
    await page.goto(logout.href);
    await page.screenshot({ path: join(SCREENSHOTS, 'logout.png'), fullPage: true });
    await Promise.all([
      page.waitForURL((u) => u.href.startsWith(`${rp.url}/signed-out`)),
      page.click('button[name="logout"][value="yes"]'),
    ]);

    // signed out: prompt=none now fails with login_required
    const silent = await authorize(config, { prompt: 'none' });
    await Promise.all([onCallback(page), page.goto(silent.url.href)]);
    assert.equal(new URL(page.url()).searchParams.get('error'), 'login_required');
    await context.close();
  });

  it('shows an error page, and never redirects, for a redirect_uri that is not registered', async () => {
    const { config } = await client();
    const { url } = await authorize(config, { redirect_uri: `${rp.url}/elsewhere` });
    const [context, page] = await newPage();
    const res = await page.goto(url.href);
    assert.equal(res?.status(), 400);
    assert.ok(page.url().startsWith(server.issuer), 'still on the identity provider');
    assert.match((await page.textContent('h1')) ?? '', /not valid/);
    await page.screenshot({ path: join(SCREENSHOTS, 'error.png'), fullPage: true });
    await context.close();
  });

  it('refuses an authorization request without PKCE', async () => {
    const { config } = await client();
    const url = oidc.buildAuthorizationUrl(config, { redirect_uri: callback, scope: 'openid', state: 's' });
    const [context, page] = await newPage();
    await Promise.all([onCallback(page), page.goto(url.href)]);
    const back = new URL(page.url());
    assert.equal(back.searchParams.get('error'), 'invalid_request');
    assert.match(back.searchParams.get('error_description') ?? '', /PKCE/);
    await context.close();
  });

  it('shows the expired page for an unknown interaction', async () => {
    const [context, page] = await newPage();
    const res = await page.goto(`${server.url}/interaction/does-not-exist`);
    assert.equal(res?.status(), 400);
    assert.match((await page.textContent('h1')) ?? '', /expired/);
    await context.close();
  });
});
