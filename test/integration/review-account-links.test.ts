import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CookieJar, follow, postLogin } from '../helpers/form-signin.ts';
import { PageBrowser } from '../helpers/pages.ts';
import { randomName, startTestServer, type TestServer } from '../helpers/server.ts';
import { linkIn, startSmtp, type TestSmtp } from '../helpers/smtp.ts';

const PASSWORD = 'correct horse battery staple';
const NEW_PASSWORD = 'violet anchor drifting slowly';

// Mailed links (password reset, address change) stand on the password and the address they
// were issued against: a later password change or address change ends them.
describe('review: mailed account links after the account changed', () => {
  let server: TestServer;
  let smtp: TestSmtp;

  before(async () => {
    smtp = await startSmtp();
    server = await startTestServer({
      env: {
        SMTP_URL: smtp.url,
        MAIL_RATE_LIMIT_IP: '1000',
        MAIL_RATE_LIMIT_ADDRESS: '20',
        SIGNUP_ENABLED: 'true',
        SIGNUP_REQUIRE_VERIFICATION: 'false',
      },
    });
  });
  after(async () => {
    await server?.close();
    await smtp?.close();
  });

  const newUser = async () => {
    const username = randomName('rv');
    const email = `${username}@example.test`;
    const res = await server.admin<{ id: string }>('POST', '/users', { username, email, password: PASSWORD });
    assert.equal(res.status, 201);
    return { id: res.body.id, username, email };
  };
  const resetLink = async (login: string, to: string) => {
    const answer = await new PageBrowser(server.url).submit('/password/forgot', '/password/forgot', {
      username: login,
    });
    assert.equal(answer.status, 200);
    return linkIn(await smtp.waitFor(to, /Reset your/), `${server.issuer}/password/reset?token=`);
  };
  /** opens a reset link and submits a new password: the page's status and the form's */
  const useResetLink = async (link: string, password: string) => {
    const browser = new PageBrowser(server.url);
    const page = await browser.get(link.replace(server.issuer, server.url));
    const token = new URL(link).searchParams.get('token') ?? '';
    // a refused link shows no form: the form token from another page, so the submission itself is judged
    const csrf = page.csrf ?? (await browser.get('/password/forgot')).csrf ?? '';
    const done = await browser.post('/password/reset', { csrf, token, password });
    return { page: page.status, done: done.status };
  };
  const confirmLink = async (link: string) => {
    const browser = new PageBrowser(server.url);
    const page = await browser.get(link.replace(server.issuer, server.url));
    const token = new URL(link).searchParams.get('token') ?? '';
    const csrf = page.csrf ?? (await browser.get('/password/forgot')).csrf ?? '';
    const done = await browser.post('/email/verify', { csrf, token });
    return { page: page.status, done: done.status };
  };
  const emailOf = async (id: string) => (await server.admin<{ email: string }>('GET', `/users/${id}`)).body.email;

  test('regression: an address change asked for with a password the owner has since reset cannot be confirmed', async () => {
    const user = await newUser();
    // the attacker knows the password: signs in on the account page and asks for their own address
    const jar = new CookieJar();
    const login = await follow(server, jar, '/account');
    const uid = /\/interaction\/([^/]+)\/login/.exec(login.html)?.[1] ?? '';
    const csrf = /name="csrf" value="([^"]+)"/.exec(login.html)?.[1] ?? '';
    const signedIn = await postLogin(server, { jar, uid, csrf }, user.username, PASSWORD);
    const account = await follow(server, jar, signedIn.headers.get('location') as string);
    const formCsrf = /id="email-form">\s*<input type="hidden" name="csrf" value="([^"]+)"/.exec(account.html)?.[1];
    assert.ok(formCsrf, 'the account page has the email form');
    const attackerEmail = `${randomName('attacker')}@example.test`;
    const asked = await fetch(`${server.url}/account/email`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: jar.header('/account/email'), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrf: formCsrf, email: attackerEmail, current_password: PASSWORD }),
    });
    assert.equal(asked.headers.get('location'), '/account?notice=email-sent');
    const changeLink = linkIn(
      await smtp.waitFor(attackerEmail, /Confirm your email/),
      `${server.issuer}/email/verify?token=`,
    );
    // the owner, told at the old address, resets the password: whoever knew the old one is out
    await smtp.waitFor(user.email, /change of your/);
    const reset = await useResetLink(await resetLink(user.email, user.email), NEW_PASSWORD);
    assert.equal(reset.done, 200);
    // ... including their pending change, which would hand them the account's recovery address
    const late = await confirmLink(changeLink);
    assert.equal(late.page, 400, 'the confirmation page refuses the link');
    assert.equal(late.done, 400, 'confirming refuses the link');
    assert.equal(await emailOf(user.id), user.email, 'the address stays the owner’s');
  });

  test('regression: a reset link mailed to an address since replaced opens nothing', async () => {
    const user = await newUser();
    const oldLink = await resetLink(user.username, user.email);
    const newEmail = `${randomName('moved')}@example.test`;
    assert.equal((await server.admin('PATCH', `/users/${user.id}`, { email: newEmail })).status, 200);
    assert.deepEqual(await useResetLink(oldLink, NEW_PASSWORD), { page: 400, done: 400 });
    // a link to the current address still works
    assert.deepEqual(await useResetLink(await resetLink(user.username, newEmail), NEW_PASSWORD), {
      page: 200,
      done: 200,
    });
  });

  test('regression: a reset link issued before the password changed by other means opens nothing', async () => {
    const user = await newUser();
    const oldLink = await resetLink(user.email, user.email);
    assert.equal((await server.admin('PATCH', `/users/${user.id}`, { password: NEW_PASSWORD })).status, 200);
    assert.deepEqual(await useResetLink(oldLink, `${NEW_PASSWORD} again`), { page: 400, done: 400 });
  });

  test('sign-up without required verification: the mailed link verifies the new account, until its password changes', async () => {
    const signup = async () => {
      const username = randomName('rvsign');
      const email = `${username}@example.test`;
      const res = await new PageBrowser(server.url).submit('/signup', '/signup', {
        username,
        email,
        password: PASSWORD,
      });
      assert.equal(res.status, 200);
      const link = linkIn(await smtp.waitFor(email, /Confirm your email/), `${server.issuer}/email/verify?token=`);
      const found = await server.admin<{ data: { id: string; emailVerified: boolean }[] }>(
        'GET',
        `/users?username=${username}`,
      );
      const id = found.body.data[0]?.id ?? '';
      assert.equal(found.body.data[0]?.emailVerified, false, 'made at once, unverified');
      return { id, link };
    };
    const kept = await signup();
    assert.deepEqual(await confirmLink(kept.link), { page: 200, done: 200 });
    assert.equal((await server.admin<{ emailVerified: boolean }>('GET', `/users/${kept.id}`)).body.emailVerified, true);
    const changed = await signup();
    assert.equal((await server.admin('PATCH', `/users/${changed.id}`, { password: NEW_PASSWORD })).status, 200);
    assert.deepEqual(await confirmLink(changed.link), { page: 400, done: 400 });
  });

  test('one reset link submitted twice at once on two instances: exactly one sets the password', {
    skip: process.env.TEST_DATABASE_URL ? false : 'the embedded database serves one instance',
  }, async () => {
    const second = await startTestServer({
      database: server.database,
      env: { SMTP_URL: smtp.url, MAIL_RATE_LIMIT_IP: '1000', MAIL_RATE_LIMIT_ADDRESS: '20' },
    });
    try {
      const user = await newUser();
      const link = await resetLink(user.username, user.email);
      const token = new URL(link).searchParams.get('token') ?? '';
      // both pages open first, then both forms sent at once: the submissions race, not the pages
      const open = async (base: string) => {
        const browser = new PageBrowser(base);
        const page = await browser.get(`/password/reset?token=${token}`);
        assert.equal(page.status, 200);
        return { browser, csrf: page.csrf ?? '' };
      };
      const [a, b] = await Promise.all([open(server.url), open(second.url)]);
      const statuses = await Promise.all(
        [a, b].map(
          async ({ browser, csrf }, i) =>
            (await browser.post('/password/reset', { csrf, token, password: `${NEW_PASSWORD}${i}` })).status,
        ),
      );
      assert.deepEqual(
        statuses.toSorted((x, y) => x - y),
        [200, 400],
      );
    } finally {
      await second.close();
    }
  });
});
