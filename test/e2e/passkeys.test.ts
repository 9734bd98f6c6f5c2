import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import * as oidc from 'openid-client';
import type { Browser, BrowserContext, CDPSession, Page } from 'playwright-core';
import { authorizationRequest, launchChromium, startRelyingParty } from '../helpers/browser.ts';
import { randomName, startTestServer, type TestServer } from '../helpers/server.ts';

const PASSWORD = 'correct horse battery staple';

interface VirtualCredential {
  credentialId: string;
  isResidentCredential: boolean;
  rpId: string;
  privateKey: string;
  userHandle?: string;
  signCount: number;
}

/** A browser context with a DevTools virtual authenticator (CTAP2, built in, user verification). */
async function withAuthenticator(
  browser: Browser,
  { autofill = false }: { autofill?: boolean } = {},
): Promise<{
  context: BrowserContext;
  page: Page;
  cdp: CDPSession;
  authenticatorId: string;
}> {
  const context = await browser.newContext();
  const page = await context.newPage();
  // The virtual authenticator answers a conditional (autofill) request at once, which would
  // race every button; only the autofill test keeps it: elsewhere this is a browser without it.
  if (!autofill) {
    await page.addInitScript(() => {
      PublicKeyCredential.isConditionalMediationAvailable = async () => false;
    });
  }
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  if (process.env.E2E_DEBUG) {
    page.on('console', (m) => console.log('console:', m.text()));
    page.on('pageerror', (e) => console.log('pageerror:', e.message));
    page.on('response', async (r) => {
      if (r.status() >= 400 && r.request().method() === 'POST')
        console.log('response:', r.status(), r.url(), await r.text());
    });
  }
  return { context, page, cdp, authenticatorId };
}

const credentialsOf = async (cdp: CDPSession, authenticatorId: string) =>
  (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials as VirtualCredential[];

describe('passkeys (Chromium with a virtual authenticator, openid-client as the relying party)', () => {
  let server: TestServer;
  let rp: Awaited<ReturnType<typeof startRelyingParty>>;
  let browser: Browser;
  let callback: string;
  let username: string;
  let userId: string;
  /** the passkey registered in the first test, copied into other contexts' authenticators */
  let credential: VirtualCredential;
  /** a copy taken at registration: its counter falls behind once the passkey is used */
  let stale: VirtualCredential;
  /** the first context: signed in, holds the registered passkey */
  let owner: Awaited<ReturnType<typeof withAuthenticator>>;

  const client = async (extra: Record<string, unknown> = {}) => {
    const res = await server.admin('POST', '/clients', {
      client_name: 'Orders',
      redirect_uris: [callback],
      grant_types: ['authorization_code'],
      scope: 'openid profile',
      first_party: true,
      ...extra,
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const body = res.body as { client_id: string; client_secret: string };
    return oidc.discovery(
      new URL(server.issuer),
      body.client_id,
      undefined,
      oidc.ClientSecretBasic(body.client_secret),
      {
        execute: [oidc.allowInsecureRequests],
      },
    );
  };

  const authorize = (config: oidc.Configuration, params: Record<string, string> = {}) =>
    authorizationRequest(config, callback, { scope: 'openid profile', ...params });

  const signIn = async (page: Page, password = PASSWORD) => {
    await page.fill('input[name="username"]', username);
    await page.fill('input[name="password"]', password);
    await page.click('button[type="submit"]');
    await page.waitForLoadState();
  };
  const onCallback = (page: Page) => page.waitForURL((u) => u.href.startsWith(callback));

  /** a fresh context whose authenticator holds `cred` (the same passkey on "another device") */
  const contextWith = async (cred?: VirtualCredential, autofill = false) => {
    const ctx = await withAuthenticator(browser, { autofill });
    if (cred) await ctx.cdp.send('WebAuthn.addCredential', { authenticatorId: ctx.authenticatorId, credential: cred });
    return ctx;
  };

  before(async () => {
    server = await startTestServer();
    rp = await startRelyingParty();
    callback = `${rp.url}/callback`;
    browser = await launchChromium();
    username = randomName('carol');
    const created = await server.admin<{ id: string }>('POST', '/users', {
      username,
      password: PASSWORD,
      name: 'Carol',
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    userId = created.body.id;
  });

  after(async () => {
    await browser?.close();
    await rp?.close();
    await server?.close();
  });

  it('sends a visitor to the sign-in page, offers a passkey after the password, and adds one on /account', async () => {
    owner = await withAuthenticator(browser);
    const { page } = owner;
    await page.goto(`${server.url}/account`);
    assert.match(page.url(), /\/interaction\/[^/]+$/, 'no session: the sign-in page first');
    await signIn(page);

    // the offer right after a password sign-in (this browser has a platform authenticator)
    await page.waitForSelector('#passkey-add');
    await Promise.all([page.waitForURL(`${server.url}/account`), page.click('#passkey-skip')]);
    assert.equal(await page.locator('#passkey-list li').count(), 0);
    assert.equal(await page.locator('button', { hasText: 'Sign out' }).count(), 1);

    await Promise.all([page.waitForURL(/\/account\?notice=added$/), page.click('#add-passkey')]);
    const items = page.locator('#passkey-list li');
    assert.equal(await items.count(), 1);
    assert.equal(await items.locator('button[name="remove-passkey"]').count(), 1);
    assert.match((await items.first().textContent()) ?? '', /Passkey \d{4}-\d{2}-\d{2}/);

    const creds = await credentialsOf(owner.cdp, owner.authenticatorId);
    assert.equal(creds.length, 1);
    assert.equal(creds[0]?.isResidentCredential, true, 'a discoverable credential');
    assert.equal(creds[0]?.rpId, new URL(server.issuer).hostname, 'RP ID = the issuer host');
    credential = creds[0] as VirtualCredential;
    stale = credential;

    const listed = await server.admin<{ data: { id: string; name: string; aaguid: string }[] }>(
      'GET',
      `/users/${userId}/passkeys`,
    );
    assert.equal(listed.status, 200);
    assert.equal(listed.body.data.length, 1);

    // the security event log has it, with who and nothing secret
    await server.running.app.services.events.flush();
    const added = await server.admin<{ data: { type: string; subject: string; details: Record<string, unknown> }[] }>(
      'GET',
      `/events?type=passkey.added&subject=${userId}`,
    );
    assert.equal(added.body.data.length, 1, JSON.stringify(added.body));
    assert.equal(added.body.data[0]?.details.authenticator_id, listed.body.data[0]?.id);
    assert.ok(!JSON.stringify(added.body).includes('publicKey'));

    // renaming, like adding or removing, needs a passkey proof in this password session: the step-up
    await Promise.all([page.waitForURL(/notice=confirmed$/), page.click('#step-up')]);
    // the step-up's assertion moved the signature counter: later devices copy the credential as it is now
    credential = (await credentialsOf(owner.cdp, owner.authenticatorId))[0] as VirtualCredential;
    // rename, without JavaScript's help: a plain form
    await page.fill('#passkey-list li input[name="name"]', '  Work laptop\u0007 ');
    await Promise.all([page.waitForURL(/notice=renamed/), page.click('button[name="rename-passkey"]')]);
    assert.match((await page.textContent('#passkey-list li .passkey-name')) ?? '', /^Work laptop$/);
  });

  it('signs in with the passkey alone: no username, no password; amr and acr say so', async () => {
    const config = await client();
    const { url, checks } = await authorize(config);
    const device = await contextWith(credential);
    await device.page.goto(url.href);
    await Promise.all([onCallback(device.page), device.page.click('#passkey-signin')]);
    const tokens = await oidc.authorizationCodeGrant(config, new URL(device.page.url()), checks);
    const claims = tokens.claims();
    assert.equal(claims?.sub, userId);
    assert.deepEqual(claims?.amr, ['hwk', 'user', 'mfa'], 'a device-bound key with user verification');
    assert.equal(claims?.acr, 'urn:idp:acr:mfa');
    const after = await credentialsOf(device.cdp, device.authenticatorId);
    assert.ok((after[0]?.signCount ?? 0) > credential.signCount, 'the authenticator counted the signature');
    credential = after[0] as VirtualCredential;
    await device.context.close();
  });

  it('signs in through autofill (conditional UI) as soon as the page loads', async () => {
    const config = await client();
    const { url, checks } = await authorize(config);
    const device = await contextWith(credential, true);
    await Promise.all([onCallback(device.page), device.page.goto(url.href)]);
    const claims = (await oidc.authorizationCodeGrant(config, new URL(device.page.url()), checks)).claims();
    assert.equal(claims?.sub, userId);
    credential = (await credentialsOf(device.cdp, device.authenticatorId))[0] as VirtualCredential;
    await device.context.close();
  });

  it('refuses a signature counter that goes backwards, and records it', async () => {
    // the stale copy from before the previous test: a cloned authenticator
    const config = await client();
    const device = await contextWith(stale);
    await device.page.goto((await authorize(config)).url.href);
    await device.page.click('#passkey-signin');
    await device.page.waitForFunction(() => document.body.dataset.passkeyError === 'counter_regression');
    assert.match(device.page.url(), /\/interaction\//, 'still on the sign-in page');
    await device.context.close();
    await server.running.app.services.events.flush();
    const recorded = await server.admin<{ data: { outcome: string }[] }>(
      'GET',
      `/events?type=passkey.counter_regression&subject=${userId}`,
    );
    assert.equal(recorded.body.data[0]?.outcome, 'failure');
  });

  it('forces the passkey step after the password for a client that requires MFA', async () => {
    const config = await client({ require_mfa: true });
    const { url, checks } = await authorize(config);
    // the owner's browser gets the passkey as it is now (with its current counter)
    await owner.cdp.send('WebAuthn.clearCredentials', { authenticatorId: owner.authenticatorId });
    await owner.cdp.send('WebAuthn.addCredential', { authenticatorId: owner.authenticatorId, credential });
    const { page } = owner;
    // the owner's session came from a password alone: MFA asks for the passkey step
    await page.goto(url.href);
    await page.waitForSelector('#passkey-verify');
    assert.match((await page.textContent('h1')) ?? '', /Confirm it's you/);
    await Promise.all([onCallback(page), page.click('#passkey-verify')]);
    const tokens = await oidc.authorizationCodeGrant(config, new URL(page.url()), checks);
    const claims = tokens.claims();
    assert.equal(claims?.sub, userId);
    // the session's password, then this passkey
    assert.deepEqual(claims?.amr, ['pwd', 'hwk', 'user', 'mfa']);
    assert.equal(claims?.acr, 'urn:idp:acr:mfa');
    credential = (await credentialsOf(owner.cdp, owner.authenticatorId))[0] as VirtualCredential;
  });

  it('forces the passkey step right after the password in a fresh browser (acr_values asks for MFA)', async () => {
    const config = await client();
    const { url, checks } = await authorize(config, { acr_values: 'urn:idp:acr:mfa' });
    // the passkey arrives only after the password: with it present from the start, autofill
    // (conditional UI) would sign in with the passkey alone, which is MFA already
    const device = await contextWith();
    await device.page.goto(url.href);
    await signIn(device.page);
    await device.page.waitForSelector('#passkey-verify');
    await device.cdp.send('WebAuthn.addCredential', { authenticatorId: device.authenticatorId, credential });
    await Promise.all([onCallback(device.page), device.page.click('#passkey-verify')]);
    const claims = (await oidc.authorizationCodeGrant(config, new URL(device.page.url()), checks)).claims();
    assert.deepEqual(claims?.amr, ['pwd', 'hwk', 'user', 'mfa']);
    assert.equal(claims?.acr, 'urn:idp:acr:mfa');
    credential = (await credentialsOf(device.cdp, device.authenticatorId))[0] as VirtualCredential;
    await device.context.close();
  });

  it('refuses an authenticator that holds a passkey this server never registered', async () => {
    const config = await client();
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const stranger: VirtualCredential = {
      credentialId: randomBytes(16).toString('base64'),
      isResidentCredential: true,
      rpId: new URL(server.issuer).hostname,
      privateKey: privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64'),
      userHandle: Buffer.from(userId).toString('base64'),
      signCount: 0,
    };
    const device = await contextWith(stranger);
    await device.page.goto((await authorize(config)).url.href);
    await device.page.click('#passkey-signin');
    await device.page.waitForFunction(() => document.body.dataset.passkeyError === 'unknown_credential');
    assert.match((await device.page.textContent('#login-error')) ?? '', /not registered/);
    await device.context.close();
  });

  it('removes the passkey from /account, after which it signs nobody in', async () => {
    const { page } = owner;
    await page.goto(`${server.url}/account`);
    // the MFA sign-in above refreshed the session: removal needs a recent sign-in and gets one
    await Promise.all([page.waitForURL(/notice=removed/), page.click('button[name="remove-passkey"]')]);
    assert.equal(await page.locator('#passkey-list li').count(), 0);

    const config = await client();
    const device = await contextWith(credential);
    await device.page.goto((await authorize(config)).url.href);
    await device.page.click('#passkey-signin');
    await device.page.waitForFunction(() => document.body.dataset.passkeyError === 'unknown_credential');
    assert.match(device.page.url(), /\/interaction\//);
    await device.context.close();

    // and an MFA client now gets a clear error instead of a sign-in with the password alone
    const mfa = await client({ require_mfa: true });
    const { url } = await authorize(mfa);
    const fresh = await contextWith();
    await fresh.page.goto(url.href);
    await Promise.all([onCallback(fresh.page), signIn(fresh.page)]);
    const back = new URL(fresh.page.url());
    assert.equal(back.searchParams.get('error'), 'unmet_authentication_requirements');
    assert.equal(back.searchParams.get('code'), null);
    await fresh.context.close();
  });
});
