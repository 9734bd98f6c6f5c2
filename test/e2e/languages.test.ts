import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { expectAccessible, launchChromium, signIn } from '../helpers/browser.ts';
import { randomName, startTestServer, type TestServer } from '../helpers/server.ts';

const PASSWORD = 'correct horse battery staple';
const LOGO =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 28"><rect width="40" height="28" fill="#0a7d4f"/></svg>';

describe('languages and branding in Chromium', () => {
  let server: TestServer;
  let browser: Browser;
  let username: string;

  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idp-brand-'));
    writeFileSync(join(dir, 'logo.svg'), LOGO);
    server = await startTestServer({
      env: { PRODUCT_NAME: 'Acme', BRAND_COLOR: '#0a7d4f', BRAND_LOGO_FILE: join(dir, 'logo.svg') },
    });
    browser = await launchChromium();
    username = randomName('li');
    assert.equal((await server.admin('POST', '/users', { username, password: PASSWORD })).status, 201);
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  /** A page in a browser that speaks `locale`, recording every CSP violation it reports. */
  const open = async (locale: string) => {
    const context = await browser.newContext({ locale });
    const page = await context.newPage();
    const violations: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
    });
    return { context, page, violations };
  };

  it('switches the sign-in page to Chinese, signs in, and shows the account page in Chinese', async () => {
    const { context, page, violations } = await open('en-US');
    await page.goto(`${server.url}/account`);
    assert.equal(await page.getAttribute('html', 'lang'), 'en');
    assert.equal((await page.textContent('h1'))?.trim(), 'Sign in');

    await Promise.all([page.waitForLoadState(), page.click('#language-switch a[data-lang="zh-CN"]')]);
    assert.equal(await page.getAttribute('html', 'lang'), 'zh-CN');
    assert.equal((await page.textContent('h1'))?.trim(), '登录');
    assert.equal(await page.getAttribute('#language-switch a[data-lang="zh-CN"]', 'aria-current'), 'true');
    await expectAccessible(page);

    await signIn(page, username, PASSWORD);
    if (await page.locator('#passkey-skip').count()) {
      assert.equal((await page.textContent('#passkey-skip'))?.trim(), '以后再说');
      await Promise.all([page.waitForURL(`${server.url}/account`), page.click('#passkey-skip')]);
    }
    await page.waitForURL(`${server.url}/account`);
    assert.equal(await page.getAttribute('html', 'lang'), 'zh-CN');
    assert.equal((await page.textContent('h1'))?.trim(), '我的账户');
    assert.equal((await page.textContent('#second-factors-title'))?.trim(), '身份验证器应用和恢复码');
    assert.equal((await page.textContent('#add-totp'))?.trim(), '设置身份验证器应用');
    assert.equal((await page.textContent('#sign-out'))?.trim(), '退出登录');
    // the passkey button is shown by the page script, in Chinese
    await page.waitForSelector('#add-passkey:not([hidden])');
    assert.equal((await page.textContent('#add-passkey'))?.trim(), '添加通行密钥');
    await expectAccessible(page);

    // the enrolment page of the authenticator app, too
    await Promise.all([page.waitForURL(`${server.url}/account/totp`), page.click('#add-totp')]);
    assert.equal((await page.textContent('h1'))?.trim(), '设置身份验证器应用');
    assert.match((await page.textContent('[data-totp-secret]')) ?? '', /^[A-Z2-7]{32}$/);

    // and back to English with the switch on the account page
    await page.goto(`${server.url}/account`);
    await Promise.all([page.waitForLoadState(), page.click('#language-switch a[data-lang="en"]')]);
    assert.equal(await page.getAttribute('html', 'lang'), 'en');
    assert.equal((await page.textContent('h1'))?.trim(), 'Your account');
    assert.deepEqual(violations, []);
    await context.close();
  });

  it('follows the browser language, and draws the brand colour and logo under the strict CSP', async () => {
    const { context, page, violations } = await open('zh-CN');
    await page.goto(`${server.url}/account`);
    assert.equal(await page.getAttribute('html', 'lang'), 'zh-CN');
    assert.equal(await page.title(), '登录 · Acme');
    const background = await page.$eval('button.primary', (b) => getComputedStyle(b).backgroundColor);
    assert.equal(background, 'rgb(10, 125, 79)');
    const logo = await page.$eval('img.brand-logo', (img) => (img as HTMLImageElement).naturalWidth);
    assert.ok(logo > 0, 'the logo loaded');
    assert.deepEqual(violations, []);
    await context.close();
  });
});
