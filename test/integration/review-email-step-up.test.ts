import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { base32Decode, hotp, totpStep } from '../../src/services/totp.ts';
import { CookieJar, follow, postLogin } from '../helpers/form-signin.ts';
import { randomName, startTestServer, type TestServer } from '../helpers/server.ts';
import { startSmtp, type TestSmtp } from '../helpers/smtp.ts';

const PASSWORD = 'correct horse battery staple';
const codeAt = (secret: string, offset = 0) => hotp(base32Decode(secret), totpStep(Date.now() / 1000) + offset);

// The account's email address is where reset links go: on an account with a second factor, a
// session that proved only the password must not move it.
describe('review: changing the email address of an account with a second factor', () => {
  let server: TestServer;
  let smtp: TestSmtp;

  before(async () => {
    smtp = await startSmtp();
    server = await startTestServer({ env: { SMTP_URL: smtp.url, MAIL_RATE_LIMIT_IP: '1000' } });
  });
  after(async () => {
    await server?.close();
    await smtp?.close();
  });

  const post = (jar: CookieJar, path: string, form: Record<string, string>) =>
    fetch(`${server.url}${path}`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: jar.header(path), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form),
    });
  const csrfOf = (html: string) => /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';

  test('regression: a password-only session moved the recovery address of an account with an authenticator app', async () => {
    const username = randomName('rvmfa');
    const email = `${username}@example.test`;
    const made = await server.admin<{ id: string }>('POST', '/users', { username, email, password: PASSWORD });
    assert.equal(made.status, 201);
    // a session that signed in with the password, before the app was added
    const jar = new CookieJar();
    const login = await follow(server, jar, '/account');
    const uid = /\/interaction\/([^/]+)\/login/.exec(login.html)?.[1] ?? '';
    const signedIn = await postLogin(server, { jar, uid, csrf: csrfOf(login.html) }, username, PASSWORD);
    const account = await follow(server, jar, signedIn.headers.get('location') as string);
    const csrf = csrfOf(account.html);
    assert.equal((await post(jar, '/account/totp', { csrf })).status, 303);
    const enrol = await follow(server, jar, '/account/totp');
    const secret = /data-totp-secret>([A-Z2-7]+)</.exec(enrol.html)?.[1] ?? '';
    assert.equal((await post(jar, '/account/totp/confirm', { csrf, code: codeAt(secret) })).status, 200);

    // the app is now a second factor; this session proved only the password
    const moved = `${randomName('attacker')}@example.test`;
    const refused = await post(jar, '/account/email', { csrf, email: moved, current_password: PASSWORD });
    assert.equal(refused.headers.get('location'), '/account?notice=step-up');
    const user = await server.admin<{ email: string }>('GET', `/users/${made.body.id}`);
    assert.equal(user.body.email, email);

    // after a step-up with a code from the app, the same change goes through
    const stepped = await post(jar, '/account/step-up/code', { csrf, code: codeAt(secret, 1) });
    assert.match(stepped.headers.get('location') ?? '', /notice=confirmed/);
    const allowed = await post(jar, '/account/email', { csrf, email: moved, current_password: PASSWORD });
    assert.equal(allowed.headers.get('location'), '/account?notice=email-sent');
    await smtp.waitFor(moved, /Confirm your email/);
  });

  test('an account without a second factor changes its address with the password alone', async () => {
    const username = randomName('rvplain');
    await server.admin('POST', '/users', { username, email: `${username}@example.test`, password: PASSWORD });
    const jar = new CookieJar();
    const login = await follow(server, jar, '/account');
    const uid = /\/interaction\/([^/]+)\/login/.exec(login.html)?.[1] ?? '';
    const signedIn = await postLogin(server, { jar, uid, csrf: csrfOf(login.html) }, username, PASSWORD);
    const account = await follow(server, jar, signedIn.headers.get('location') as string);
    const moved = `${randomName('plain')}@example.test`;
    const res = await post(jar, '/account/email', {
      csrf: csrfOf(account.html),
      email: moved,
      current_password: PASSWORD,
    });
    assert.equal(res.headers.get('location'), '/account?notice=email-sent');
  });
});
