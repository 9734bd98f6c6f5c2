import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, CDPSession, Page } from 'playwright-core';
import { launchChromium, signIn } from '../helpers/browser.ts';
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

interface Device {
  context: BrowserContext;
  page: Page;
  cdp: CDPSession;
  authenticatorId: string;
}

/** A browser context with a DevTools virtual authenticator (CTAP2, user verification), without autofill. */
async function device(browser: Browser, credential?: VirtualCredential): Promise<Device> {
  const context = await browser.newContext();
  const page = await context.newPage();
  // no conditional UI: it would answer at once and race every button
  await page.addInitScript(() => {
    PublicKeyCredential.isConditionalMediationAvailable = async () => false;
  });
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
  if (credential) await cdp.send('WebAuthn.addCredential', { authenticatorId, credential });
  return { context, page, cdp, authenticatorId };
}

const credentialsOf = async (d: Device) =>
  (await d.cdp.send('WebAuthn.getCredentials', { authenticatorId: d.authenticatorId }))
    .credentials as VirtualCredential[];

describe('/account: a password alone cannot add a passkey to an account that has one (Chromium)', () => {
  let server: TestServer;
  let browser: Browser;
  let username: string;
  let userId: string;
  let credential: VirtualCredential;

  const passkeyCount = async () =>
    (await server.admin<{ data: unknown[] }>('GET', `/users/${userId}/passkeys`)).body.data.length;

  /** Signs in to /account with the password only (the passkey offer, if any, is declined). */
  const passwordOnly = async (d: Device) => {
    await d.page.goto(`${server.url}/account`);
    await signIn(d.page, username, PASSWORD);
    if (await d.page.locator('#passkey-skip').count()) {
      await Promise.all([d.page.waitForURL(`${server.url}/account`), d.page.click('#passkey-skip')]);
    }
    await d.page.waitForURL(`${server.url}/account`);
  };

  before(async () => {
    server = await startTestServer();
    browser = await launchChromium();
    username = randomName('erin');
    const created = await server.admin<{ id: string }>('POST', '/users', { username, password: PASSWORD });
    assert.equal(created.status, 201);
    userId = created.body.id;

    // the owner enrols a first passkey with the password alone: the bootstrap case
    const owner = await device(browser);
    await passwordOnly(owner);
    await Promise.all([owner.page.waitForURL(/notice=added$/), owner.page.click('#add-passkey')]);
    credential = (await credentialsOf(owner))[0] as VirtualCredential;
    assert.ok(credential);
    // announced to the owner on the account page, and recorded
    assert.match((await owner.page.textContent('#security-notices')) ?? '', /A passkey named .* was added/);
    await server.running.app.services.events.flush();
    const added = await server.admin<{ data: unknown[] }>('GET', `/events?type=passkey.added&subject=${userId}`);
    assert.equal(added.body.data.length, 1);
    await owner.context.close();
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  it('regression: a password-only session cannot add a second passkey (MFA bypass through /account)', async () => {
    // the attacker knows the password and brings an authenticator of their own
    const attacker = await device(browser);
    await passwordOnly(attacker);
    assert.equal(await attacker.page.locator('#step-up').count(), 1, 'the page asks for a passkey step-up');
    await attacker.page.click('#add-passkey');
    await attacker.page.waitForFunction(() => document.body.dataset.passkeyError === 'step_up_required');
    assert.match((await attacker.page.textContent('#passkey-error')) ?? '', /confirm it is you/i);
    assert.equal((await credentialsOf(attacker)).length, 0, 'the authenticator made no credential');
    assert.equal(await passkeyCount(), 1);

    // nor turn the second factor off or remove the passkey
    await Promise.all([
      attacker.page.waitForURL(/notice=step-up$/),
      attacker.page.click('button[name="remove-passkey"]'),
    ]);
    assert.equal(await passkeyCount(), 1);
    await attacker.context.close();
  });

  it('with the existing passkey (a step-up), the same kind of session can add one', async () => {
    const owner = await device(browser, credential);
    await passwordOnly(owner);
    await owner.page.click('#add-passkey');
    await owner.page.waitForFunction(() => document.body.dataset.passkeyError === 'step_up_required');

    await Promise.all([owner.page.waitForURL(/notice=confirmed$/), owner.page.click('#step-up')]);
    assert.equal(await owner.page.locator('#step-up').count(), 0, 'no step-up asked for any more');
    // its counter moved on; then a new credential on this authenticator (the old one would be excluded)
    credential = (await credentialsOf(owner))[0] as VirtualCredential;
    await owner.cdp.send('WebAuthn.clearCredentials', { authenticatorId: owner.authenticatorId });
    await Promise.all([owner.page.waitForURL(/notice=added$/), owner.page.click('#add-passkey')]);
    assert.equal(await passkeyCount(), 2);
    assert.equal(await owner.page.locator('#passkey-list li').count(), 2);
    assert.equal(await owner.page.locator('#security-notices li').count(), 2, 'each new passkey is announced');
    await owner.context.close();
  });

  it('a session that signed in with the passkey counts as proven', async () => {
    const owner = await device(browser, credential);
    await owner.page.goto(`${server.url}/account`);
    await Promise.all([owner.page.waitForURL(`${server.url}/account`), owner.page.click('#passkey-signin')]);
    assert.equal(await owner.page.locator('#step-up').count(), 0);
    await Promise.all([
      owner.page.waitForURL(/notice=removed$/),
      owner.page.click('#passkey-list li:last-child button[name="remove-passkey"]'),
    ]);
    assert.equal(await passkeyCount(), 1);
    await owner.context.close();
  });
});
