import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { expectAccessible, launchChromium, signIn } from '../helpers/browser.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const PASSWORD = 'a console passphrase nobody guesses';
const SHOTS = process.env.CONSOLE_SCREENSHOTS_DIR;

describe('the admin console at /console', () => {
  let server: TestServer;
  let browser: Browser;
  let adminAudience: string;

  before(async () => {
    server = await startTestServer();
    browser = await launchChromium();
    adminAudience = `${server.issuer}/admin`;
    const role = async (name: string, scopes: string[]) =>
      assert.equal(
        (
          await server.admin('POST', '/roles', {
            name,
            permissions: scopes.map((scope) => ({ resource: adminAudience, scope })),
          })
        ).status,
        201,
      );
    await role('console-admin', ['admin']);
    await role('clients-reader', ['clients:read']);
    await role('clients-writer', ['clients:write']);
    for (const [username, roles] of [
      ['alice', ['console-admin']],
      ['bob', ['clients-reader']],
      ['carol', ['clients-writer']],
      ['dave', []],
    ] as const) {
      const res = await server.admin('POST', '/users', { username, password: PASSWORD, roles });
      assert.equal(res.status, 201, JSON.stringify(res.body));
    }
    // events for the charts: sign-ins over the last hour, an attack 20 minutes ago, and the limits' answer
    const ago = (minutes: number) => new Date(Date.now() - minutes * 60_000);
    const data = [];
    for (let m = 55; m >= 0; m -= 5) {
      for (let i = 0; i < 3 + (m % 4); i++)
        data.push({ type: 'signin.succeeded', occurredAt: ago(m), outcome: 'success' });
      for (let i = 0; i < 8; i++) data.push({ type: 'token.issued', occurredAt: ago(m), outcome: 'success' });
      data.push({ type: 'signin.failed', occurredAt: ago(m), outcome: 'failure' });
    }
    for (let i = 0; i < 40; i++)
      data.push({ type: 'signin.failed', occurredAt: ago(21), outcome: 'failure', ip: '203.0.113.66' });
    data.push({
      type: 'surge.detected',
      occurredAt: ago(21),
      outcome: 'failure',
      ip: '203.0.113.66',
      details: {
        kind: 'failures',
        dimension: 'ip',
        per_minute: 40,
        threshold: 20,
        action: 'sign-in limits per address',
      },
    });
    for (let i = 0; i < 5; i++)
      data.push({ type: 'ratelimit.tripped', occurredAt: ago(20), outcome: 'failure', ip: '203.0.113.66' });
    data.push({
      type: 'signin.locked',
      occurredAt: ago(20),
      outcome: 'failure',
      ip: '203.0.113.66',
      subject: 'digest',
    });
    await server.running.app.db.prisma.securityEvent.createMany({ data });
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  /** A new browser context signed in to the console as `username`. */
  const consoleAs = async (username: string, viewport = { width: 1280, height: 900 }) => {
    const context = await browser.newContext({ viewport });
    const page = await context.newPage();
    await page.goto(`${server.url}/console`);
    await signIn(page, username, PASSWORD);
    return { context, page };
  };

  /** Posts a form from inside the page (same origin, its cookies), as a forged submission would. */
  const forge = (page: Page, path: string, fields: Record<string, string>) =>
    page.evaluate(
      async ({ path, fields }) => {
        const csrf = (document.querySelector('input[name="csrf"]') as HTMLInputElement | null)?.value ?? '';
        const res = await fetch(path, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ csrf, ...fields }).toString(),
          redirect: 'manual',
        });
        return { status: res.status, text: await res.text() };
      },
      { path, fields },
    );

  it('a full admin signs in, sees the charts with the surge marked and listed, and every page passes axe', async () => {
    const { context, page } = await consoleAs('alice');
    assert.equal(new URL(page.url()).pathname, '/console');
    assert.equal(await page.locator('h1').textContent(), 'Overview');
    assert.equal(await page.locator('figure.chart svg[role="img"]').count(), 3);
    assert.ok((await page.locator('#chart-signins .surge-mark').count()) >= 1, 'the surge is marked on the chart');
    const surgeRow = await page.locator('#surges-table tbody tr').first().textContent();
    assert.match(surgeRow ?? '', /203\.0\.113\.66/);
    assert.match(surgeRow ?? '', /5 rate-limit trip\(s\), 1 lockout\(s\)/);
    const headers = (await page.reload())?.headers() ?? {};
    assert.equal(headers['cache-control'], 'no-store');
    assert.match(headers['content-security-policy'] ?? '', /frame-ancestors 'none'/);
    assert.doesNotMatch(headers['content-security-policy'] ?? '', /unsafe-inline/);
    if (SHOTS) await page.screenshot({ path: `${SHOTS}/console-home.png`, fullPage: true });
    await expectAccessible(page);
    await page.goto(`${server.url}/console?window=day`);
    assert.equal((await page.locator('#chart-tokens rect').count()) > 0, true);
    for (const path of [
      '/console/clients',
      '/console/apis',
      '/console/roles',
      '/console/users',
      '/console/keys',
      '/console/events',
    ]) {
      const res = await page.goto(`${server.url}${path}`);
      assert.equal(res?.status(), 200, path);
      await expectAccessible(page);
    }
    await context.close();
  });

  it('clients: create shows the secret once, edit, rotate, delete after confirming', async () => {
    const { context, page } = await consoleAs('alice');
    await page.goto(`${server.url}/console/clients/new`);
    await expectAccessible(page);
    await page.fill('#client_name', 'Billing service');
    await page.uncheck('input[name="grant_authorization_code"]');
    await page.check('input[name="grant_client_credentials"]');
    const [created] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'POST'),
      page.click('form.stack button[type="submit"]'),
    ]);
    assert.equal(created.headers()['cache-control'], 'no-store');
    const secret = await page.inputValue('[data-secret]');
    assert.ok(secret.length >= 43, 'the secret is shown');
    await page.click('text=Go to the client');
    const clientUrl = page.url();
    assert.ok(!(await page.content()).includes(secret), 'and never again');
    await expectAccessible(page);
    // bad input comes back from the admin API with the field named, the form kept
    await page.fill('#redirect_uris', 'not a url');
    await page.check('input[name="grant_authorization_code"]');
    await page.click('form.stack button[type="submit"]');
    assert.match((await page.locator('.error').textContent()) ?? '', /redirect_uris/);
    assert.equal(await page.inputValue('#redirect_uris'), 'not a url');
    await page.goto(clientUrl);
    await page.fill('#client_name', 'Billing service 2');
    await page.click('form.stack button[type="submit"]');
    assert.equal(await page.locator('.notice').textContent(), 'Saved.');
    assert.equal(await page.locator('h1').textContent(), 'Billing service 2');
    await page.click('text=Rotate secret');
    await page.click('main form button[type="submit"]');
    const rotated = await page.inputValue('[data-secret]');
    assert.ok(rotated.length >= 43 && rotated !== secret);
    const id = decodeURIComponent(clientUrl.split('/').at(-1) ?? '');
    const check = await server.token(id, rotated, { grant_type: 'client_credentials' });
    assert.notEqual(check.body.error, 'invalid_client', 'the rotated secret authenticates');
    await page.goto(clientUrl);
    await page.click('text=Delete client');
    assert.match((await page.locator('main p').first().textContent()) ?? '', /cannot be undone/);
    await expectAccessible(page);
    await page.click('button.danger');
    assert.equal(await page.locator('.notice').textContent(), 'Deleted.');
    assert.equal((await server.admin('GET', `/clients/${encodeURIComponent(id)}`)).status, 404);
    await context.close();
  });

  it('users: create, disable, enable, unlock; APIs and roles; keys rotate; events filter and page', async () => {
    const { context, page } = await consoleAs('alice');
    await page.goto(`${server.url}/console/users/new`);
    await page.fill('#username', 'erin');
    await page.fill('#email', 'erin@example.com');
    await page.fill('#password', PASSWORD);
    await page.click('form.stack button[type="submit"]');
    assert.equal(await page.locator('h1').textContent(), 'erin');
    await expectAccessible(page);
    await page.click('text=Disable user');
    assert.match((await page.locator('.notice').textContent()) ?? '', /disabled/);
    await page.click('text=Enable user');
    await page.click('text=Lift sign-in lockout');
    assert.equal(await page.locator('.notice').textContent(), 'Sign-in lockout lifted.');
    await page.click('text=Reset second factors');
    assert.equal(await page.locator('.notice').textContent(), 'Second factors removed.');

    await page.goto(`${server.url}/console/apis`);
    await page.fill('#identifier', 'https://orders.example');
    await page.fill('#name', 'Orders');
    await page.fill('#scopes', 'orders:read orders:write');
    await page.click('form.stack button[type="submit"]');
    assert.equal(await page.locator('.notice').textContent(), 'Created.');
    await page.goto(`${server.url}/console/roles`);
    await page.fill('#role-name', 'clerk');
    await page.fill('#permissions', 'https://orders.example orders:read');
    await page.click('form.stack button[type="submit"]');
    assert.match((await page.locator('table').textContent()) ?? '', /clerk/);

    await page.goto(`${server.url}/console/keys`);
    const before = await page.locator('tbody tr').count();
    await page.click('text=Rotate signing keys');
    await page.click('main form button[type="submit"]');
    assert.equal(await page.locator('.notice').textContent(), 'Rotated.');
    assert.ok((await page.locator('tbody tr').count()) > before);

    await page.goto(`${server.url}/console/events?type=signin.failed`);
    const types = await page.locator('tbody td:nth-child(2)').allTextContents();
    assert.ok(types.length === 50 && types.every((t) => t === 'signin.failed'), 'filtered, one page of 50');
    await page.click('text=Older events');
    assert.match(page.url(), /after=/);
    assert.ok((await page.locator('tbody tr').count()) > 0);
    await expectAccessible(page);
    await page.goto(`${server.url}/console/events?since=2000-01-01T00%3A00&type=bad%20type`);
    assert.match((await page.locator('.error').textContent()) ?? '', /type/);
    await context.close();
  });

  it('a clients:read admin sees only clients, has no buttons to change them, and a forged POST is refused by the API', async () => {
    const { context, page } = await consoleAs('bob');
    const nav = await page.locator('nav a').allTextContents();
    assert.deepEqual(nav, ['Overview', 'Clients']);
    await page.goto(`${server.url}/console/clients`);
    assert.equal(await page.locator('text=New client').count(), 0);
    await expectAccessible(page);
    const users = await page.goto(`${server.url}/console/users`);
    assert.equal(users?.status(), 403);
    assert.match((await page.locator('.error').textContent()) ?? '', /users:read/);
    assert.equal(await page.locator('tbody tr').count(), 0, 'no user is shown');
    await page.goto(`${server.url}/console/clients`);
    const before = (await server.admin<{ data: unknown[] }>('GET', '/clients?limit=200')).body.data.length;
    const forged = await forge(page, '/console/clients/new', { client_name: 'Sneaky', grant_client_credentials: 'on' });
    assert.equal(forged.status, 403);
    assert.match(forged.text, /clients:write/);
    assert.equal((await server.admin<{ data: unknown[] }>('GET', '/clients?limit=200')).body.data.length, before);
    // and without the CSRF token, not even the API is asked
    const noToken = await page.evaluate(async () => {
      const res = await fetch('/console/keys/rotate', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'csrf=forged',
      });
      return res.status;
    });
    assert.equal(noToken, 403);
    await context.close();
  });

  it('a clients:write admin cannot give itself more through the console', async () => {
    const { context, page } = await consoleAs('carol');
    await page.goto(`${server.url}/console/clients/new`);
    const attempts = [
      { client_name: 'Escalate', grant_client_credentials: 'on', allowedResources: `${adminAudience} admin` },
      { client_name: 'Escalate', grant_client_credentials: 'on', roles: 'console-admin' },
    ];
    for (const fields of attempts) {
      const res = await forge(page, '/console/clients/new', fields);
      assert.equal(res.status, 403, JSON.stringify(fields));
    }
    // the console's own client is built in: not changeable here
    const own = await forge(page, '/console/clients/idp-console', {
      client_name: 'Mine now',
      grant_authorization_code: 'on',
    });
    assert.equal(own.status, 403);
    // nor its own roles (users:write and roles:write are not its)
    const alice = (await server.admin<{ data: { id: string }[] }>('GET', '/users?username=carol')).body.data[0];
    const roles = await forge(page, `/console/users/${alice?.id}/roles`, { roles: 'console-admin' });
    assert.equal(roles.status, 403);
    const me = (await server.admin<{ roles: string[] }>('GET', `/users/${alice?.id}`)).body;
    assert.deepEqual(me.roles, ['clients-writer']);
    await context.close();
  });

  it('someone without an admin scope gets a clear page, not an error', async () => {
    const { context, page } = await consoleAs('dave');
    assert.equal(await page.locator('h1').textContent(), 'You have no admin access');
    assert.match((await page.locator('main').textContent()) ?? '', /clients:read/);
    await expectAccessible(page);
    await context.close();
  });

  it('a lost or expired console session signs in again without a page; sign out ends it; a phone sees the same console', async () => {
    const { context, page } = await consoleAs('alice', { width: 390, height: 844 });
    if (SHOTS) await page.screenshot({ path: `${SHOTS}/console-phone.png`, fullPage: true });
    const wide = await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1);
    assert.ok(wide, 'no sideways scrolling on a phone');
    await context.clearCookies({ name: 'idp_console' });
    await page.goto(`${server.url}/console/users`);
    assert.equal(new URL(page.url()).pathname, '/console/users', 'back where it was, without the sign-in page');
    assert.equal(await page.locator('h1').textContent(), 'Users');
    // a tampered session cookie is no session
    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name === 'idp_console');
    assert.ok(session?.httpOnly, 'HttpOnly');
    await context.addCookies([{ ...session, value: `${session.value.slice(0, -4)}AAAA` }]);
    await page.goto(`${server.url}/console/keys`);
    assert.equal(await page.locator('h1').textContent(), 'Signing keys');
    await page.click('button:has-text("Sign out")');
    await page.waitForLoadState();
    // oidc-provider's end-session confirmation, then our page
    const confirm = page.locator('button[type="submit"], button[autofocus]').first();
    if (!page.url().includes('/console/signed-out')) {
      await confirm.click();
      await page.waitForURL(/\/console\/signed-out/);
    }
    await page.goto(`${server.url}/console`);
    assert.ok(await page.locator('input[name="password"]').count(), 'signed out: the sign-in page again');
    await context.close();
  });
});
