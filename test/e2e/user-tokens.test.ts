import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as oidc from 'openid-client';
import type { Browser } from 'playwright-core';
import { authorizationRequest, launchChromium, signIn, startRelyingParty } from '../helpers/browser.ts';
import { verifyAccessToken } from '../helpers/oidc.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const API = 'https://orders.example';
const PASSWORD = 'a passphrase nobody guesses';

describe('user tokens: roles cap the scopes, a disabled user loses access', () => {
  let server: TestServer;
  let browser: Browser;
  let rp: Awaited<ReturnType<typeof startRelyingParty>>;

  before(async () => {
    server = await startTestServer();
    rp = await startRelyingParty();
    browser = await launchChromium();
    await server.admin('POST', '/resources', {
      identifier: API,
      name: 'Orders',
      scopes: ['orders:read', 'orders:write', 'orders:refund'],
      rolesClaim: true,
    });
    await server.admin('POST', '/roles', {
      name: 'clerk',
      permissions: [
        { resource: API, scope: 'orders:read' },
        { resource: API, scope: 'orders:refund' },
      ],
    });
  });
  after(async () => {
    await browser?.close();
    await rp?.close();
    await server?.close();
  });

  /** signs `username` in to a first-party app allowed orders:read and orders:write, returns its tokens */
  const signInToApp = async (username: string, expect: 'success' | 'refused' = 'success') => {
    const app = await server.admin<{ client_id: string; client_secret: string }>('POST', '/clients', {
      client_name: 'Orders app',
      redirect_uris: [rp.callback],
      scope: 'openid profile offline_access',
      first_party: true,
      allowedResources: { [API]: ['orders:read', 'orders:write'] },
    });
    assert.equal(app.status, 201, JSON.stringify(app.body));
    const config = await oidc.discovery(
      new URL(server.issuer),
      app.body.client_id,
      undefined,
      oidc.ClientSecretBasic(app.body.client_secret),
      { execute: [oidc.allowInsecureRequests] },
    );
    const { url, checks } = await authorizationRequest(config, rp.callback, {
      scope: 'openid offline_access orders:read orders:write orders:refund',
      resource: API,
      prompt: 'consent',
    });
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(url.href);
    await signIn(page, username, PASSWORD);
    if (expect === 'refused') {
      assert.equal(await page.getByText('Incorrect username or password.').count(), 1);
      await context.close();
      return undefined;
    }
    await page.waitForURL((u) => u.href.startsWith(rp.callback));
    const tokens = await oidc.authorizationCodeGrant(config, new URL(page.url()), checks, { resource: API });
    await context.close();
    return { config, tokens };
  };

  it("carries only the scopes the user's roles and the client both allow, and the roles claim", async () => {
    const user = await server.admin('POST', '/users', { username: 'clerk1', password: PASSWORD, roles: ['clerk'] });
    assert.equal(user.status, 201, JSON.stringify(user.body));
    const { tokens } = (await signInToApp('clerk1')) ?? assert.fail();
    const { payload } = await verifyAccessToken(server, tokens.access_token, API);
    // orders:write: the client may, the user may not; orders:refund: the user may, the client may not
    assert.equal(payload.scope, 'orders:read');
    assert.equal(payload.sub, (user.body as { id: string }).id);
    assert.deepEqual(payload.roles, ['clerk']);
  });

  it('a user without roles gets no API scopes', async () => {
    await server.admin('POST', '/users', { username: 'norole', password: PASSWORD });
    const { tokens } = (await signInToApp('norole')) ?? assert.fail();
    const { payload } = await verifyAccessToken(server, tokens.access_token, API);
    assert.equal(payload.scope, undefined);
  });

  it('a disabled user cannot refresh, and cannot sign in again', async () => {
    const user = await server.admin<{ id: string }>('POST', '/users', {
      username: 'leaver',
      password: PASSWORD,
      roles: ['clerk'],
    });
    const { config, tokens } = (await signInToApp('leaver')) ?? assert.fail();
    assert.ok(tokens.refresh_token);
    assert.equal((await server.admin('PATCH', `/users/${user.body.id}`, { status: 'disabled' })).status, 200);
    await assert.rejects(oidc.refreshTokenGrant(config, tokens.refresh_token, { resource: API }), (err: unknown) => {
      return (err as { error?: string }).error === 'invalid_grant';
    });
    await signInToApp('leaver', 'refused');
  });
});
