import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchChromium, signIn } from '../helpers/browser.ts';
import { randomName, startTestServer, type TestServer } from '../helpers/server.ts';

const PASSWORD = 'correct horse battery staple';

describe('sessions on the account page (Chromium, several browsers of one person)', () => {
  let server: TestServer;
  let browser: Browser;
  let username: string;
  const contexts: BrowserContext[] = [];

  before(async () => {
    server = await startTestServer();
    browser = await launchChromium();
    username = randomName('laptop');
    const created = await server.admin('POST', '/users', { username, password: PASSWORD });
    assert.equal(created.status, 201, JSON.stringify(created.body));
  });
  after(async () => {
    for (const context of contexts) await context.close();
    await browser?.close();
    await server?.close();
  });

  /** a new browser (its own cookies) signed in on /account */
  const signedInBrowser = async (): Promise<Page> => {
    const context = await browser.newContext();
    contexts.push(context);
    const page = await context.newPage();
    await page.goto(`${server.url}/account`);
    await signIn(page, username, PASSWORD);
    await page.waitForURL((u) => u.pathname === '/account');
    return page;
  };
  const isSignedOut = async (page: Page) => {
    await page.goto(`${server.url}/account`);
    return (await page.locator('input[name="password"]').count()) === 1 && !page.url().endsWith('/account');
  };

  it('signs out another browser from /account, then all others, and those browsers are signed out', async () => {
    const laptop = await signedInBrowser();
    const lost = await signedInBrowser();
    await laptop.reload();
    const others = laptop.locator('#session-list li:not([data-current-session])');
    assert.equal(await others.count(), 1);
    assert.equal(
      await laptop.locator('#session-list li[data-current-session] button[name="revoke-session"]').count(),
      0,
    );
    assert.match(
      (await laptop.locator('#session-list li[data-current-session]').textContent()) ?? '',
      /Chrome on Linux/,
    );

    await others.locator('button[name="revoke-session"]').click();
    await laptop.waitForURL((u) => u.searchParams.get('notice') === 'session-ended');
    assert.equal(await laptop.locator('#session-list li').count(), 1, 'only this session is left');
    assert.equal(await isSignedOut(lost), true, 'the other browser is signed out');
    assert.equal(await isSignedOut(laptop), false, 'this one is not');

    // two more browsers; "sign out all other sessions"
    const phone = await signedInBrowser();
    const tablet = await signedInBrowser();
    await laptop.goto(`${server.url}/account`);
    assert.equal(await laptop.locator('#session-list li').count(), 3);
    await laptop.click('#revoke-other-sessions');
    await laptop.waitForURL((u) => u.searchParams.get('notice') === 'sessions-ended');
    assert.equal(await laptop.locator('#session-list li').count(), 1);
    assert.equal(await isSignedOut(phone), true);
    assert.equal(await isSignedOut(tablet), true);
    assert.equal(await isSignedOut(laptop), false);
  });
});
