import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CookieJar, follow, postLogin, registerWebClient, startSignIn, waitForEvents } from '../helpers/form-signin.ts';
import { mainOf, PageBrowser } from '../helpers/pages.ts';
import { randomName, startTestServer, type TestServer } from '../helpers/server.ts';
import { linkIn, startSmtp, type TestSmtp } from '../helpers/smtp.ts';

const PASSWORD = 'correct horse battery staple';

describe('self sign-up and email verification', () => {
  let server: TestServer;
  let smtp: TestSmtp;
  let client: { clientId: string; redirectUri: string };

  before(async () => {
    smtp = await startSmtp();
    server = await startTestServer({
      env: { SMTP_URL: smtp.url, SIGNUP_ENABLED: 'true', MAIL_RATE_LIMIT_IP: '1000', MAIL_RATE_LIMIT_ADDRESS: '3' },
    });
    client = await registerWebClient(server);
  });
  after(async () => {
    await server?.close();
    await smtp?.close();
  });

  const signup = (fields: Record<string, string>) => new PageBrowser(server.url).submit('/signup', '/signup', fields);
  const signIn = async (username: string, password: string) =>
    postLogin(server, await startSignIn(server, client), username, password);
  /** follows a mailed confirmation link: the page, then its button */
  const confirm = async (link: string) => {
    const browser = new PageBrowser(server.url);
    const page = await browser.get(link.replace(server.issuer, server.url));
    if (page.status !== 200) return { status: page.status, html: page.html };
    const token = new URL(link).searchParams.get('token') ?? '';
    return browser.post('/email/verify', { csrf: page.csrf ?? '', token });
  };

  test('the sign-in page links to "Create account"; the form has username, email and password', async () => {
    const signin = await startSignIn(server, client);
    const html = await (
      await fetch(`${server.url}/interaction/${signin.uid}`, {
        headers: { cookie: signin.jar.header(`/interaction/${signin.uid}`) },
      })
    ).text();
    assert.match(html, /<a href="\/signup"[^>]*>Create account<\/a>/);
    const form = await new PageBrowser(server.url).get('/signup');
    for (const name of ['username', 'email', 'password']) assert.match(form.html, new RegExp(`name="${name}"`));
  });

  test('sign-up: no account until the mailed link is confirmed; then it signs in, verified, with an event', async () => {
    const username = randomName('new');
    const email = `${username}@example.test`;
    const res = await signup({ username, email, password: PASSWORD });
    assert.equal(res.status, 200);
    assert.match(res.html, /Check your mail/);
    assert.equal((await signIn(username, PASSWORD)).status, 200, 'not before the address is confirmed');
    const link = linkIn(await smtp.waitFor(email, /Confirm your email/), `${server.issuer}/email/verify?token=`);
    // the link only opens a page: a mail scanner fetching it confirms nothing
    const page = await new PageBrowser(server.url).get(link.replace(server.issuer, server.url));
    assert.match(page.html, /id="confirm-email"/);
    assert.equal((await signIn(username, PASSWORD)).status, 200);
    const done = await confirm(link);
    assert.equal(done.status, 200);
    assert.match(done.html, /is ready/);
    assert.equal((await signIn(username, PASSWORD)).status, 303);
    assert.equal((await confirm(link)).status, 400, 'the link works once');
    const users = await server.admin<{ data: { id: string; emailVerified: boolean }[] }>(
      'GET',
      `/users?username=${username}`,
    );
    assert.equal(users.body.data[0]?.emailVerified, true);
    const events = await waitForEvents<{ type: string; actor: string }>(
      server,
      { subject: users.body.data[0]?.id ?? '' },
      (l) => ['user.created', 'email.verified'].every((t) => l.some((e) => e.type === t)),
    );
    assert.equal(events.find((e) => e.type === 'user.created')?.actor, users.body.data[0]?.id, 'actor: the person');
  });

  test('an address in use: the same page, no account, and its owner is told someone tried', async () => {
    const owner = randomName('owner');
    const email = `${owner}@example.test`;
    assert.equal((await server.admin('POST', '/users', { username: owner, email, password: PASSWORD })).status, 201);
    const fresh = await signup({
      username: randomName('x'),
      email: `${randomName('fresh')}@example.test`,
      password: PASSWORD,
    });
    const taken = await signup({ username: randomName('y'), email, password: PASSWORD });
    assert.equal(taken.status, 200);
    assert.equal(
      mainOf(taken.html).replace(/\S+@example\.test/, ''),
      mainOf(fresh.html).replace(/\S+@example\.test/, ''),
    );
    const mail = await smtp.waitFor(email, /Someone tried/);
    assert.match(mail.text, /\/password\/forgot/);
    assert.doesNotMatch(mail.text, /token=/);
  });

  test('a taken username is said (no sign-up form can hide it); bad fields are named', async () => {
    const owner = randomName('taken');
    assert.equal((await server.admin('POST', '/users', { username: owner, password: PASSWORD })).status, 201);
    const res = await signup({
      username: owner.toUpperCase(),
      email: `${randomName('z')}@example.test`,
      password: PASSWORD,
    });
    assert.equal(res.status, 400);
    assert.match(res.html, /Username: This username is already taken/);
    const weak = await signup({
      username: randomName('w'),
      email: `${randomName('w')}@example.test`,
      password: 'short',
    });
    assert.equal(weak.status, 400);
    assert.match(weak.html, /Password:/);
    const bad = await signup({ username: 'a b', email: 'not-an-address', password: PASSWORD });
    assert.equal(bad.status, 400);
    assert.match(bad.html, /Username:/);
    const nul = await signup({ username: randomName('n'), email: 'x\u0000@example.test', password: PASSWORD });
    assert.equal(nul.status, 400);
  });

  test('sign-up is limited per email address', async () => {
    const email = `${randomName('limit')}@example.test`;
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++)
      statuses.push((await signup({ username: randomName('l'), email, password: PASSWORD })).status);
    assert.deepEqual(statuses, [200, 200, 200, 429]);
  });

  test('/account: a new address needs the current password and the mailed link; the old address is told', async () => {
    const username = randomName('change');
    const oldEmail = `${username}@example.test`;
    const created = await server.admin<{ id: string }>('POST', '/users', {
      username,
      email: oldEmail,
      password: PASSWORD,
    });
    const jar = new CookieJar();
    const login = await follow(server, jar, '/account');
    const uid = /\/interaction\/([^/]+)\/login/.exec(login.html)?.[1] ?? '';
    const csrf = /name="csrf" value="([^"]+)"/.exec(login.html)?.[1] ?? '';
    const res = await postLogin(server, { jar, uid, csrf }, username, PASSWORD);
    const page = await follow(server, jar, res.headers.get('location') as string);
    assert.match(page.html, /<input id="new-email" name="email"/);
    assert.match(page.html, /name="current_password"/);
    const formCsrf = /id="email-form">\s*<input type="hidden" name="csrf" value="([^"]+)"/.exec(page.html)?.[1] ?? '';
    const post = (fields: Record<string, string>) =>
      fetch(`${server.url}/account/email`, {
        method: 'POST',
        redirect: 'manual',
        headers: { cookie: jar.header('/account/email'), 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ csrf: formCsrf, ...fields }),
      });
    const newEmail = `${randomName('moved')}@example.test`;
    const wrong = await post({ email: newEmail, current_password: 'not the password' });
    assert.equal(wrong.headers.get('location'), '/account?notice=email-password');
    const ok = await post({ email: newEmail, current_password: PASSWORD });
    assert.equal(ok.headers.get('location'), '/account?notice=email-sent');
    await smtp.waitFor(oldEmail, /change of your/);
    const link = linkIn(await smtp.waitFor(newEmail, /Confirm your email/), `${server.issuer}/email/verify?token=`);
    assert.equal(
      (await server.admin<{ email: string }>('GET', `/users/${created.body.id}`)).body.email,
      oldEmail,
      'not before the link',
    );
    assert.equal((await confirm(link)).status, 200);
    const after = await server.admin<{ email: string; emailVerified: boolean }>('GET', `/users/${created.body.id}`);
    assert.equal(after.body.email, newEmail);
    assert.equal(after.body.emailVerified, true);
    await waitForEvents(server, { type: 'email.verified', subject: created.body.id });
  });
});
