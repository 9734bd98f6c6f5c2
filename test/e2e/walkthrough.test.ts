import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../helpers/browser.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { type MarkedBlock, markedBlocks, WalkthroughShell } from '../helpers/walkthrough.ts';

/**
 * docs/signing-people-in.md as a newcomer follows it: every marked shell block through bash, in
 * order, in one session; the browser steps it describes in Chromium; the single-page app it
 * prints, served and clicked. The README's service-token walk-through runs the same way.
 */
const DOC = markedBlocks(new URL('../../docs/signing-people-in.md', import.meta.url));
const README = markedBlocks(new URL('../../README.md', import.meta.url));
const PASSWORD = 'correct horse battery staple';

const block = (blocks: Map<string, MarkedBlock>, name: string): string => {
  const found = blocks.get(name);
  assert.ok(found, `the walk-through has a block marked ${name}`);
  return found.code;
};
const doc = (name: string) => block(DOC, name);

/** A static server for the single-page app's directory (what `python3 -m http.server` does). */
async function serveDirectory(dir: string): Promise<{ origin: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path !== '/') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(readFileSync(join(dir, 'spa', 'index.html')));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    origin: `http://localhost:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** A web app's origin where a page answers every path (the walk-through's app is curl). */
async function answerEverything(): Promise<{ origin: string; close(): Promise<void> }> {
  const server: Server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!doctype html><title>app</title>');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    origin: `http://localhost:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describe('the sign-in walk-through (docs/signing-people-in.md) runs as written', () => {
  let dir: string;
  let server: TestServer;
  let shell: WalkthroughShell;
  let web: Awaited<ReturnType<typeof answerEverything>>;
  let spa: Awaited<ReturnType<typeof serveDirectory>>;
  let browser: Browser;
  let page: Page;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'idp-walkthrough-'));
    [web, spa, browser] = await Promise.all([answerEverything(), serveDirectory(dir), launchChromium()]);
    // the start block runs first, so the server gets the admin client the reader chose
    const starter = new WalkthroughShell(dir);
    const started = await starter.run(doc('start'));
    const [id, secret] = (await starter.run('printf "%s\\n%s" "$ADMIN_CLIENT_ID" "$ADMIN_CLIENT_SECRET"')).split('\n');
    assert.ok(id && secret && secret.length >= 32);
    assert.ok(started.includes(`export ADMIN_CLIENT_ID=${id} ADMIN_CLIENT_SECRET=${secret}`), started);
    server = await startTestServer({ env: { ADMIN_CLIENT_ID: id, ADMIN_CLIENT_SECRET: secret } });
    shell = new WalkthroughShell(dir, {
      'http://localhost:3000': server.issuer,
      'http://localhost:8080': web.origin,
      'http://localhost:5173': spa.origin,
    });
    page = await (await browser.newContext()).newPage();
  });

  after(async () => {
    await browser?.close();
    await Promise.all([web?.close(), spa?.close()]);
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** On a page of this server: signs in if the page asks (and only if `password` says it will), then allows. */
  const signInAndAllow = async (password: boolean) => {
    await page.waitForURL((u) => u.href.startsWith(`${server.issuer}/interaction/`));
    assert.equal(await page.locator('input[name="password"]').count(), password ? 1 : 0, 'asked for the password');
    if (password) {
      await page.fill('input[name="username"]', 'alice');
      await page.fill('input[name="password"]', PASSWORD);
      await page.click('button[type="submit"]');
    }
    await page.locator('button[name="decision"][value="allow"]').click();
  };

  /** Opens the address a block printed, signs in, and returns the callback address the reader copies. */
  const browseToCallback = async (authUrl: string, password: boolean) => {
    assert.ok(authUrl.startsWith(`${server.issuer}/auth?`), authUrl);
    await page.goto(authUrl);
    await signInAndAllow(password);
    await page.waitForURL((u) => u.href.startsWith(`${web.origin}/callback?`));
    return page.url();
  };

  it('registers the API, the role, the person and the web app through the admin API', async () => {
    await shell.run(doc('admin'));
    assert.match(await shell.run(doc('api')), /"identifier": "https:\/\/notes\.example"/);
    const people = await shell.run(doc('people'));
    assert.match(people, /"name": "note-taker"/);
    assert.match(people, /"username": "alice"/);
    await shell.run(doc('web-register'));
    assert.match(await shell.get('WEB_ID'), /^[\w-]{10,}$/);
    assert.ok((await shell.get('WEB_SECRET')).length >= 32);
  });

  it('web app: signs in with PKCE and resource, and shows which token goes where', async () => {
    const authUrl = (await shell.run(doc('web-authorize'))).trim();
    const params = new URL(authUrl).searchParams;
    assert.equal(params.get('code_challenge_method'), 'S256');
    assert.equal(params.get('resource'), 'https://notes.example');
    const callback = await browseToCallback(authUrl, true);
    const checked = await shell.run(doc('web-callback'), `${callback}\n`);
    assert.match(checked, /state matches\nissuer matches/);

    assert.match(await shell.run(doc('web-token')), /"scope": "notes:read notes:write"/);
    const [idToken, accessToken, me] = (await shell.run(doc('web-tokens'))).split(/\n(?=[{])/);
    const id = JSON.parse(idToken ?? '');
    assert.equal(id.name, 'Alice Liddell');
    assert.equal(id.aud, await shell.get('WEB_ID'));
    assert.equal(id.nonce, await shell.get('NONCE'));
    const access = JSON.parse(accessToken ?? '');
    assert.equal(access.aud, 'https://notes.example');
    assert.equal(access.sub, id.sub);
    assert.equal(JSON.parse(me ?? '').error, 'invalid_token', 'userinfo refuses the API token');
  });

  it('web app: refresh rotates, and reuse of a spent refresh token revokes the grant', async () => {
    assert.match(await shell.run(doc('web-refresh')), /"rotated": true/);
    const [reusedLine, rotatedLine, ...event] = (await shell.run(doc('web-reuse'))).split('\n');
    const reused = JSON.parse(reusedLine ?? '');
    const rotated = JSON.parse(rotatedLine ?? '');
    assert.equal(reused.error, 'invalid_grant');
    assert.equal(rotated.error, 'invalid_grant', 'the new refresh token died with the grant');
    assert.equal(JSON.parse(event.join('\n')).type, 'token.reuse_detected');
  });

  it('web app: without resource the token is for userinfo, and sign-out ends it', async () => {
    const authUrl = (await shell.run(doc('web-authorize-userinfo'))).trim();
    assert.equal(new URL(authUrl).searchParams.get('resource'), null);
    // still signed in: consent only
    const callback = await browseToCallback(authUrl, false);
    const out = await shell.run(doc('web-callback-userinfo'), `${callback}\n`);
    const [state, idToken, me] = out.split(/\n(?=[{])/);
    assert.match(state ?? '', /state matches/);
    assert.equal(JSON.parse(idToken ?? '').name, undefined, 'no profile claims in the ID token');
    assert.equal(JSON.parse(me ?? '').name, 'Alice Liddell', 'userinfo answers with them');

    const logoutUrl = (await shell.run(doc('web-logout'))).trim();
    assert.ok(logoutUrl.startsWith(`${server.issuer}/session/end?id_token_hint=`), logoutUrl);
    await page.goto(logoutUrl);
    await page.locator('button[name="logout"][value="yes"]').click();
    await page.waitForURL((u) => u.href.startsWith(`${web.origin}/?state=`));
    assert.equal(JSON.parse(await shell.run(doc('web-after-logout'))).error, 'invalid_token');
  });

  it('single-page app: public client, PKCE in the browser, refresh, revoke and sign out', async () => {
    await shell.run(doc('spa-register'));
    const spaId = await shell.get('SPA_ID');
    assert.match(spaId, /^[\w-]{10,}$/);
    assert.ok(!(await shell.get('SPA')).includes('client_secret'), 'a public client has no secret');
    await shell.run('cat > spa.html', `${doc('spa-page')}\n`);
    await shell.run(doc('spa-build'));
    assert.ok(readFileSync(join(dir, 'spa', 'index.html'), 'utf8').includes(`'${spaId}'`));

    const tokenResponse = () =>
      page
        .waitForResponse((res) => res.url() === `${server.issuer}/token` && res.request().method() === 'POST')
        .then(async (res) => {
          assert.equal(res.status(), 200, await res.text());
          return ((await res.json()) as { refresh_token: string }).refresh_token;
        });
    const shown = async () => JSON.parse((await page.locator('#out').textContent()) ?? '');
    await page.goto(`${spa.origin}/`);
    await page.click('#sign-in');
    const signedIn = tokenResponse();
    await signInAndAllow(true); // signed out of the web app above: the password again
    const firstRefreshToken = await signedIn;
    await page.locator('#out').filter({ hasText: 'signed_in_as' }).waitFor();
    assert.equal(page.url(), `${spa.origin}/`, 'the code left the address bar');
    const first = await shown();
    assert.equal(first.name, 'Alice Liddell');
    assert.equal(first.access_token.aud, 'https://notes.example');
    assert.equal(first.access_token.scope, 'notes:read', "the app's allowance caps the role's scopes");

    const [refreshToken] = await Promise.all([tokenResponse(), page.click('#refresh')]);
    assert.notEqual(refreshToken, firstRefreshToken, 'the refresh token rotated');
    // the page shows the new access token (its jti) once it holds the new refresh token
    await page.waitForFunction(
      (jti) => !document.querySelector('#out')?.textContent?.includes(jti),
      first.access_token.jti,
    );
    const second = await shown();
    assert.equal(second.access_token.aud, 'https://notes.example');
    assert.equal(second.signed_in_as, first.signed_in_as);

    const [revoked] = await Promise.all([
      page.waitForResponse(`${server.issuer}/token/revocation`),
      page.click('#sign-out'),
    ]);
    assert.equal(revoked.status(), 200);
    await page.locator('button[name="logout"][value="yes"]').click();
    await page.waitForURL(`${spa.origin}/`);
    assert.equal(await page.locator('#out').textContent(), 'signed out');

    const refresh = await fetch(`${server.url}/token`, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'refresh_token', client_id: spaId, refresh_token: refreshToken }),
    });
    assert.equal(((await refresh.json()) as { error: string }).error, 'invalid_grant', 'revoked at sign-out');
    await page.goto(`${spa.origin}/`);
    await page.click('#sign-in');
    await page.waitForURL((u) => u.href.startsWith(`${server.issuer}/interaction/`));
    assert.equal(await page.locator('input[name="password"]').count(), 1, 'the session ended');
  });

  it("the README's service-token walk-through", async () => {
    await shell.run(block(README, 'service-admin-token'));
    assert.match(await shell.run(block(README, 'service-api')), /"identifier":"https:\/\/orders\.example"/);
    await shell.run(block(README, 'service-client'));
    const payload = await shell.run(block(README, 'service-token'));
    assert.match(payload, /"scope": "orders:read"/, 'the one scope it is allowed');
    assert.match(await shell.run(block(README, 'service-introspect')), /"active":true/);
  });
});
