import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { base32Decode, hotp, totpStep } from '../../src/services/totp.ts';
import { launchChromium, signIn } from '../helpers/browser.ts';
import { randomName, startTestServer, type TestServer } from '../helpers/server.ts';

const PASSWORD = 'correct horse battery staple';

/** What an authenticator app shows `offset` steps from now, for the secret read off the page. */
const codeAt = (secret: string, offset = 0) => hotp(base32Decode(secret), totpStep(Date.now() / 1000) + offset);

describe('/account: an authenticator app and recovery codes (Chromium)', () => {
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  let username: string;
  let secret: string;
  let recoveryCodes: string[];

  before(async () => {
    server = await startTestServer();
    browser = await launchChromium();
    page = await (await browser.newContext()).newPage();
    username = randomName('tess');
    assert.equal((await server.admin('POST', '/users', { username, password: PASSWORD })).status, 201);
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  const signOut = async () => {
    await page.click('#sign-out');
    await Promise.all([page.waitForLoadState(), page.click('button[name="logout"][value="yes"]')]);
  };
  /** The account page's sign-in with the password, up to the page after it. */
  const password = async () => {
    await page.goto(`${server.url}/account`);
    await signIn(page, username, PASSWORD);
  };

  it('enrols with the QR code page: the secret shown there gives the confirming code; ten recovery codes are shown once', async () => {
    await password();
    if (await page.locator('#passkey-skip').count()) {
      await Promise.all([page.waitForURL(`${server.url}/account`), page.click('#passkey-skip')]);
    }
    await page.waitForURL(`${server.url}/account`);
    await Promise.all([page.waitForURL(`${server.url}/account/totp`), page.click('#add-totp')]);
    assert.equal(await page.locator('.totp-qr svg').count(), 1, 'the QR code, drawn inline');
    assert.ok(((await page.locator('.totp-qr svg').boundingBox())?.width ?? 0) > 100, 'and visible');
    secret = ((await page.textContent('[data-totp-secret]')) ?? '').trim();
    assert.match(secret, /^[A-Z2-7]{32}$/);
    await page.fill('input[name="code"]', codeAt(secret));
    await Promise.all([page.waitForLoadState(), page.click('#confirm-totp')]);
    recoveryCodes = await page.locator('[data-recovery-codes] li').allTextContents();
    assert.equal(recoveryCodes.length, 10);
    await Promise.all([page.waitForURL(`${server.url}/account`), page.click('#recovery-codes-done')]);
    assert.equal(await page.getAttribute('#totp-status', 'data-totp'), 'on');
    await signOut();
  });

  it('signs in with the password and then the app’s code', async () => {
    await password();
    await page.waitForSelector('input[name="code"]');
    assert.match((await page.textContent('h1')) ?? '', /Confirm it's you/);
    // the confirming code's step was used: the app's next one
    await page.fill('input[name="code"]', codeAt(secret, 1));
    await Promise.all([page.waitForURL(`${server.url}/account`), page.click('#code-submit')]);
    // signed in with the second factor: changing it asks for no step-up
    assert.equal(await page.locator('#step-up-code').count(), 0);
    await signOut();
  });

  it('signs in with a recovery code instead (the lost phone), which then counts as used', async () => {
    await password();
    await page.waitForSelector('input[name="code"]');
    await page.fill('input[name="code"]', '000000');
    await Promise.all([page.waitForLoadState(), page.click('#code-submit')]);
    assert.match((await page.textContent('[role="alert"]')) ?? '', /not valid/);
    await page.fill('input[name="code"]', recoveryCodes[0] as string);
    await Promise.all([page.waitForURL(`${server.url}/account`), page.click('#code-submit')]);
    assert.match((await page.textContent('#recovery-status')) ?? '', /9 of 10/);
    await server.running.app.services.events.flush();
    const used = await server.admin<{ data: unknown[] }>('GET', '/events?type=mfa.recovery_code_used');
    assert.equal(used.body.data.length, 1);
    // someone who lost the phone replaces it: remove (allowed, the session proved a code), then enrol anew
    await Promise.all([page.waitForURL(/notice=totp-removed$/), page.click('#remove-totp')]);
    assert.equal(await page.getAttribute('#totp-status', 'data-totp'), 'off');
  });
});
