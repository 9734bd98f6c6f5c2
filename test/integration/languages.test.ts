import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  CookieJar,
  follow,
  type Interaction,
  postLogin,
  registerWebClient,
  startSignIn,
} from '../helpers/form-signin.ts';
import { PageBrowser } from '../helpers/pages.ts';
import { randomName, startTestServer, type TestServer } from '../helpers/server.ts';
import { linkIn, startSmtp, type TestSmtp } from '../helpers/smtp.ts';

const LOGO =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 8 8"><script>alert(1)</script><rect width="8" height="8"/></svg>';

const langOf = (html: string) => /<html lang="([^"]+)">/.exec(html)?.[1];

describe('languages and branding', () => {
  let server: TestServer;
  let smtp: TestSmtp;
  let client: { clientId: string; redirectUri: string };

  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idp-brand-'));
    writeFileSync(join(dir, 'logo.svg'), LOGO);
    smtp = await startSmtp();
    server = await startTestServer({
      env: {
        PRODUCT_NAME: 'Acme 登录',
        BRAND_COLOR: '#0A7D4F',
        BRAND_LOGO_FILE: join(dir, 'logo.svg'),
        SMTP_URL: smtp.url,
        SIGNUP_ENABLED: 'true',
        MAIL_RATE_LIMIT_IP: '1000',
      },
    });
    client = await registerWebClient(server);
    const lin = await server.admin('POST', '/users', {
      username: 'lin',
      password: 'correct horse battery staple',
      email: 'lin@example.test',
    });
    assert.equal(lin.status, 201);
  });
  after(async () => {
    await server?.close();
    await smtp?.close();
  });

  /** The sign-in page's HTML for an authorization request with these headers and parameters. */
  const signInPage = async (headers: Record<string, string>, extra: Record<string, string> = {}) => {
    const i = await startSignIn(server, client, headers, extra);
    const path = `/interaction/${i.uid}`;
    const res = await fetch(`${server.url}${path}`, { headers: { ...headers, cookie: i.jar.header(path) } });
    return { i, res, html: await res.text() };
  };

  it('shows the sign-in page in Chinese for ui_locales=zh-CN, with <html lang> and Content-Language', async () => {
    const { res, html } = await signInPage({ 'accept-language': 'en' }, { ui_locales: 'zh-CN' });
    assert.equal(res.status, 200);
    assert.equal(langOf(html), 'zh-CN');
    assert.equal(res.headers.get('content-language'), 'zh-CN');
    assert.match(res.headers.get('vary') ?? '', /accept-language/i);
    assert.match(html, /<h1>登录<\/h1>/);
    assert.match(html, /用户名或邮箱/);
    // the contract's field names and ids stay
    assert.match(html, /name="username"[^>]*autocomplete="username webauthn"/s);
    assert.match(html, /name="password" type="password"/);
    assert.match(html, /id="passkey-signin"/);
  });

  it('advertises the languages in discovery', async () => {
    const meta = (await (await fetch(`${server.url}/.well-known/openid-configuration`)).json()) as Record<
      string,
      unknown
    >;
    assert.deepEqual(meta.ui_locales_supported, ['en', 'zh-CN']);
    assert.deepEqual(meta.claim_types_supported, ['normal']);
  });

  it('takes the first ui_locales tag it has, and ui_locales before Accept-Language', async () => {
    assert.equal(langOf((await signInPage({ 'accept-language': 'en' }, { ui_locales: 'fr-CA zh' })).html), 'zh-CN');
    assert.equal(langOf((await signInPage({ 'accept-language': 'zh-CN' }, { ui_locales: 'en-GB' })).html), 'en');
  });

  it('follows Accept-Language by quality, skipping what it cannot parse and Traditional Chinese', async () => {
    const cases: [string, string][] = [
      ['zh-CN,zh;q=0.9,en;q=0.8', 'zh-CN'],
      ['de;q=1, en;q=0.2, zh-Hans-SG;q=0.7', 'zh-CN'],
      ['en;q=0.5, zh;q=0.9', 'zh-CN'],
      ['zh-CN;q=0, en', 'en'],
      ['zh-CN;q=2, en;q=0.1', 'en'],
      ['zh-TW, zh-HK;q=0.9', 'en'],
      ['*', 'en'],
      [`${'x-'.repeat(3000)}zh`, 'en'],
      [`${'de;q=0.9,'.repeat(200)}zh-CN`, 'en'],
    ];
    for (const [header, expected] of cases) {
      const { res, html } = await signInPage({ 'accept-language': header });
      assert.equal(res.status, 200, header.slice(0, 40));
      assert.equal(langOf(html), expected, header.slice(0, 40));
    }
  });

  it('falls back to English for a language it has no catalog for', async () => {
    const { html } = await signInPage({ 'accept-language': 'de-DE,fr;q=0.8' }, { ui_locales: 'xx-YY ja' });
    assert.equal(langOf(html), 'en');
    assert.match(html, /<h1>Sign in<\/h1>/);
  });

  it('keeps the interaction in the language of its ui_locales: the failed sign-in answers in Chinese', async () => {
    const { i } = await signInPage({}, { ui_locales: 'zh-CN' });
    const failed = await postLogin(server, i, 'lin', 'wrong password');
    assert.equal(failed.status, 200);
    assert.equal(langOf(failed.html), 'zh-CN');
    assert.match(failed.html, /id="login-error">用户名或密码错误。</);
  });

  it('switches language with ?lang on the sign-in page and remembers the choice in a cookie', async () => {
    const { i } = await signInPage({ 'accept-language': 'en' });
    const path = `/interaction/${i.uid}`;
    const first = await fetch(`${server.url}${path}`, {
      headers: { cookie: i.jar.header(path), 'accept-language': 'en' },
    });
    const html = await first.text();
    assert.match(
      html,
      /<a href="\/interaction\/[^"?]+\?lang=zh-CN" hreflang="zh-CN" lang="zh-CN" data-lang="zh-CN">简体中文<\/a>/,
    );
    const switched = await fetch(`${server.url}${path}?lang=zh-cn`, {
      headers: { cookie: i.jar.header(path), 'accept-language': 'en' },
    });
    i.jar.store(switched);
    assert.equal(langOf(await switched.text()), 'zh-CN');
    assert.match(switched.headers.get('set-cookie') ?? '', /idp_locale=zh-CN;.*httponly/i);
    // the next interaction of this browser, without ui_locales, in the language picked
    const next = await startSignIn(server, client, { 'accept-language': 'en', cookie: `idp_locale=zh-CN` });
    const again = await fetch(`${server.url}/interaction/${next.uid}`, {
      headers: { cookie: `${next.jar.header(`/interaction/${next.uid}`)}; idp_locale=zh-CN`, 'accept-language': 'en' },
    });
    assert.equal(langOf(await again.text()), 'zh-CN');
    // an unknown or hostile choice is ignored, never echoed, never a 5xx
    for (const lang of ['xx', '"><script>', 'zh-CN%00', 'a'.repeat(5000)]) {
      const res = await fetch(`${server.url}${path}?lang=${lang}`, { headers: { cookie: i.jar.header(path) } });
      assert.ok(res.status < 500, lang.slice(0, 20));
      assert.equal(res.headers.get('set-cookie')?.includes('idp_locale'), undefined, lang.slice(0, 20));
      assert.ok(!(await res.text()).includes('<script>'));
    }
    // a forged cookie names no catalog: ignored
    const fresh = await startSignIn(server, client, { 'accept-language': 'en' });
    const freshPath = `/interaction/${fresh.uid}`;
    const forged = await fetch(`${server.url}${freshPath}`, {
      headers: { cookie: `${fresh.jar.header(freshPath)}; idp_locale=%3Cb%3E`, 'accept-language': 'en' },
    });
    assert.equal(langOf(await forged.text()), 'en');
  });

  it('remembers the language a person signs in with on their account, for mails', async () => {
    const { i } = await signInPage({ 'accept-language': 'zh-CN' });
    const signedIn = await postLogin(server, i, 'lin', 'correct horse battery staple', { 'accept-language': 'zh-CN' });
    assert.equal(signedIn.status, 303);
    const users = await server.admin<{ data: { id: string; username: string }[] }>('GET', '/users?username=lin');
    const id = users.body.data.find((u) => u.username === 'lin')?.id ?? '';
    assert.equal((await server.running.app.services.accounts.get(id))?.locale, 'zh-CN');
    // and the admin API's view of the user is unchanged by it (no new field, no new version)
    const view = await server.admin<Record<string, unknown>>('GET', `/users/${id}`);
    assert.equal('locale' in view.body, false);
  });

  it('shows error pages in the negotiated language', async () => {
    const res = await fetch(`${server.url}/interaction/nope`, { headers: { 'accept-language': 'zh-CN' } });
    assert.equal(res.status, 400);
    const html = await res.text();
    assert.equal(langOf(html), 'zh-CN');
    assert.match(html, /此登录页面已过期/);
    assert.ok(!html.includes('id="language-switch"'), 'no language switch on an error page');
  });

  it('brands the pages from configuration without loosening the CSP', async () => {
    const { res, html } = await signInPage({});
    assert.match(html, /<title>Sign in · Acme 登录<\/title>/);
    const css = /<link rel="stylesheet" href="(\/static\/brand\.css\?v=[\w-]+)">/.exec(html)?.[1];
    const logo = /<img class="brand-logo" src="(\/static\/brand-logo\.svg\?v=[\w-]+)"/.exec(html)?.[1];
    assert.ok(css && logo, 'stylesheet and logo linked');
    const csp = res.headers.get('content-security-policy') ?? '';
    assert.match(csp, /style-src 'self'(;|$)/);
    assert.match(csp, /img-src 'self' data:/);

    const sheet = await fetch(`${server.url}${css}`);
    assert.equal(sheet.status, 200);
    assert.match(sheet.headers.get('content-type') ?? '', /text\/css/);
    assert.match(await sheet.text(), /--primary: #0a7d4f;/);
    const etag = sheet.headers.get('etag') ?? '';
    assert.equal((await fetch(`${server.url}${css}`, { headers: { 'if-none-match': etag } })).status, 304);

    const image = await fetch(`${server.url}${logo}`);
    assert.equal(image.status, 200);
    assert.equal(image.headers.get('content-type'), 'image/svg+xml');
    // opened on its own, the SVG may run nothing
    assert.match(image.headers.get('content-security-policy') ?? '', /sandbox/);
    assert.match(image.headers.get('content-security-policy') ?? '', /default-src 'none'/);
    assert.equal(await image.text(), LOGO);
  });

  it('shows the account page in the language of the session browser', async () => {
    const jar = new CookieJar();
    const start = await follow(server, jar, '/account');
    assert.equal(start.status, 200);
    const uid = /\/interaction\/([^/]+)\/login/.exec(start.html)?.[1] ?? '';
    const csrf = /name="csrf" value="([^"]+)"/.exec(start.html)?.[1] ?? '';
    const i: Interaction = { jar, uid, csrf };
    const signedIn = await postLogin(server, i, 'lin', 'correct horse battery staple');
    const location = signedIn.headers.get('location') ?? '';
    await follow(server, jar, location);
    const res = await fetch(`${server.url}/account?lang=zh-CN`, { headers: { cookie: jar.header('/account') } });
    const html = await res.text();
    assert.equal(res.status, 200);
    assert.equal(langOf(html), 'zh-CN');
    assert.match(html, /<h1>我的账户<\/h1>/);
    assert.match(html, /id="add-passkey"[^>]*>添加通行密钥</s);
    assert.match(html, /id="add-totp"[^>]*>设置身份验证器应用</);
    assert.match(html, /id="sign-out"[^>]*>退出登录</);
  });

  it('writes mails in the language the person last used, else in the language of the page asked from', async () => {
    // lin signed in in Chinese above: a reset asked for from an English page still mails Chinese
    const english = new PageBrowser(server.url);
    await english.get('/password/forgot?lang=en');
    const since = smtp.received.length;
    assert.equal((await english.submit('/password/forgot', '/password/forgot', { username: 'lin' })).status, 200);
    const mail = await smtp.waitFor('lin@example.test', /./, { since });
    assert.equal(mail.subject, '重置您的 Acme 登录 密码');
    assert.match(mail.text, /^lin，您好：/);
    assert.match(mail.text, /请在 15 分钟内打开此链接/);
    assert.match(mail.html, /<html lang="zh-CN">/);
    assert.ok(linkIn(mail, `${server.issuer}/password/reset?token=`));

    // someone who never used our pages gets the language of the page the request came from
    const username = randomName('mei');
    assert.equal(
      (
        await server.admin('POST', '/users', {
          username,
          password: 'x'.repeat(12) + 'Q1!',
          email: `${username}@example.test`,
        })
      ).status,
      201,
    );
    const chinese = new PageBrowser(server.url);
    const form = await chinese.get('/password/forgot?lang=zh-CN');
    assert.match(form.html, /<h1>忘记密码了？<\/h1>/);
    const answer = await chinese.submit('/password/forgot', '/password/forgot', { username });
    assert.match(answer.html, /请查收邮件/);
    assert.match((await smtp.waitFor(`${username}@example.test`, /./, { since })).subject, /^重置您的/);
    // and English for the same in English
    const other = randomName('ann');
    assert.equal(
      (
        await server.admin('POST', '/users', {
          username: other,
          password: 'x'.repeat(12) + 'Q1!',
          email: `${other}@example.test`,
        })
      ).status,
      201,
    );
    await english.submit('/password/forgot', '/password/forgot', { username: other });
    const englishMail = await smtp.waitFor(`${other}@example.test`, /./, { since });
    assert.equal(englishMail.subject, 'Reset your Acme 登录 password');
    assert.match(englishMail.html, /<html lang="en">/);
  });

  it('signs people up in Chinese: the page, the refusal, the mail, and the language kept on the account', async () => {
    const browser = new PageBrowser(server.url);
    const page = await browser.get('/signup?lang=zh-CN');
    assert.match(page.html, /<h1>创建账户<\/h1>/);
    const username = randomName('zhang');
    const email = `${username}@example.test`;
    const short = await browser.submit('/signup', '/signup', { username, email, password: 'short' });
    assert.equal(short.status, 400);
    assert.match(short.html, /id="signup-error">密码：密码长度至少为 8 个字符。</);
    const since = smtp.received.length;
    const sent = await browser.submit('/signup', '/signup', {
      username,
      email,
      password: 'correct horse battery staple',
    });
    assert.match(sent.html, new RegExp(`我们已向 ${email} 发送了一封邮件`));
    const mail = await smtp.waitFor(email, /./, { since });
    assert.equal(mail.subject, '确认您在 Acme 登录 的邮箱地址');
    assert.match(mail.html, /<strong>|感谢您创建 Acme 登录 账户/);
    const confirm = new PageBrowser(server.url);
    const link = linkIn(mail, `${server.issuer}/email/verify?token=`).replace(server.issuer, server.url);
    const opened = await confirm.get(`${link}&lang=zh-CN`);
    assert.match(opened.html, /确认您的邮箱地址/);
    const done = await confirm.post('/email/verify', {
      csrf: opened.csrf ?? '',
      token: new URL(link).searchParams.get('token') ?? '',
    });
    assert.match(done.html, /邮箱地址已确认/);
    const users = await server.admin<{ data: { id: string; username: string }[] }>(
      'GET',
      `/users?username=${username}`,
    );
    const id = users.body.data.find((u) => u.username === username)?.id ?? '';
    assert.equal((await server.running.app.services.accounts.get(id))?.locale, 'zh-CN');
  });
});
