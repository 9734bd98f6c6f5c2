import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { postLogin, registerWebClient, startSignIn, waitForEvents } from '../helpers/form-signin.ts';
import { mainOf, PageBrowser } from '../helpers/pages.ts';
import { randomName, startTestServer, type TestServer } from '../helpers/server.ts';
import { linkIn, startSmtp, type TestSmtp } from '../helpers/smtp.ts';

const PASSWORD = 'correct horse battery staple';
const NEW_PASSWORD = 'a brand new passphrase 42';

describe('password reset by mail', () => {
  let server: TestServer;
  let smtp: TestSmtp;
  let client: { clientId: string; redirectUri: string };

  before(async () => {
    smtp = await startSmtp();
    server = await startTestServer({
      env: {
        SMTP_URL: smtp.url,
        MAIL_FROM: 'Identity <idp@example.test>',
        MAIL_RATE_LIMIT_ADDRESS: '3',
        MAIL_RATE_LIMIT_IP: '1000',
      },
    });
    client = await registerWebClient(server);
  });
  after(async () => {
    await server?.close();
    await smtp?.close();
  });

  const newUser = async (withEmail = true) => {
    const username = randomName('reset');
    const email = `${username}@example.test`;
    const res = await server.admin<{ id: string }>('POST', '/users', {
      username,
      password: PASSWORD,
      ...(withEmail ? { email } : {}),
    });
    assert.equal(res.status, 201);
    return { id: res.body.id, username, email };
  };
  const signIn = async (username: string, password: string) =>
    postLogin(server, await startSignIn(server, client), username, password);
  const forgot = (login: string) =>
    new PageBrowser(server.url).submit('/password/forgot', '/password/forgot', { username: login });

  test('the sign-in page links to "Forgot password?", whose form asks for a username or email', async () => {
    const signin = await startSignIn(server, client);
    const html = await (
      await fetch(`${server.url}/interaction/${signin.uid}`, {
        headers: { cookie: signin.jar.header(`/interaction/${signin.uid}`) },
      })
    ).text();
    assert.match(html, /<a href="\/password\/forgot"[^>]*>Forgot password\?<\/a>/);
    const form = await new PageBrowser(server.url).get('/password/forgot');
    assert.equal(form.status, 200);
    assert.match(form.html, /<input id="username" name="username"/);
  });

  test('a mailed single-use link sets a new password, ends every session and token, and a notice follows', async () => {
    const user = await newUser();
    // a session signed in before the reset
    assert.equal((await signIn(user.username, PASSWORD)).status, 303);

    const answer = await forgot(user.email);
    assert.equal(answer.status, 200);
    assert.match(answer.html, /Check your mail/);
    const mail = await smtp.waitFor(user.email, /Reset your/);
    assert.match(mail.messageId, /^<[0-9a-f-]+@localhost>$/, 'a stable Message-ID from the outbox row');
    const link = linkIn(mail, `${server.issuer}/password/reset?token=`);
    assert.match(mail.html, /Choose a new password/);
    const token = new URL(link).searchParams.get('token') ?? '';
    assert.match(token, /^[A-Za-z0-9_-]{43}$/);

    const browser = new PageBrowser(server.url);
    const page = await browser.get(link.replace(server.issuer, server.url));
    assert.equal(page.status, 200);
    assert.match(page.html, /<input id="password" name="password" type="password"/);
    assert.equal(page.headers.get('referrer-policy'), 'no-referrer', 'the token does not leave in a Referer');

    // a password the rules refuse: the form again, the link still good
    const weak = await browser.post('/password/reset', { csrf: page.csrf ?? '', token, password: 'short' });
    assert.equal(weak.status, 400);
    assert.match(weak.html, /name="password"/);

    const done = await browser.post('/password/reset', { csrf: page.csrf ?? '', token, password: NEW_PASSWORD });
    assert.equal(done.status, 200, done.html.slice(0, 300));
    assert.match(done.html, /Your password was changed/);

    // the link works once
    assert.equal((await browser.get(link.replace(server.issuer, server.url))).status, 400);
    const again = await browser.post('/password/reset', { csrf: page.csrf ?? '', token, password: `${NEW_PASSWORD}!` });
    assert.equal(again.status, 400);

    assert.equal((await signIn(user.username, PASSWORD)).status, 200, 'the old password no longer works');
    assert.equal((await signIn(user.username, NEW_PASSWORD)).status, 303, 'the new one does');
    await smtp.waitFor(user.email, /password was changed/);

    const events = await waitForEvents<{ type: string; details: Record<string, unknown> }>(
      server,
      { subject: user.id },
      (list) =>
        ['password.reset_requested', 'password.changed', 'session.revoked'].every((t) =>
          list.some((e) => e.type === t),
        ),
    );
    const revoked = events.find((e) => e.type === 'session.revoked');
    assert.equal(revoked?.details.reason, 'password_changed');
    assert.ok((revoked?.details.removed as number) > 0, 'the earlier session was removed');
    assert.ok(!JSON.stringify(events).includes(token), 'no event holds the token');
    const fetched = await server.admin<{ emailVerified: boolean }>('GET', `/users/${user.id}`);
    assert.equal(fetched.body.emailVerified, true, 'following the mailed link proved the address');
  });

  test('an expired link is refused', async () => {
    const user = await newUser();
    await forgot(user.username);
    const link = linkIn(await smtp.waitFor(user.email, /Reset your/), `${server.issuer}/password/reset?token=`);
    await server.running.app.db.prisma.$executeRawUnsafe(
      `UPDATE "account_tokens" SET "expires_at" = now() - interval '1 second' WHERE "user_id" = $1`,
      user.id,
    );
    const page = await new PageBrowser(server.url).get(link.replace(server.issuer, server.url));
    assert.equal(page.status, 400);
    assert.match(page.html, /expired or was used/);
    // a token of another shape, a NUL, a huge one: the same page, never a 5xx
    for (const bad of ['x', 'a'.repeat(43), '%00', 'A'.repeat(5000)]) {
      const res = await fetch(`${server.url}/password/reset?token=${bad}`);
      assert.ok(res.status >= 400 && res.status < 500, `${bad.slice(0, 10)}: ${res.status}`);
    }
  });

  test('no enumeration by message: an unknown name, a user without an address and a real one get the same page', async () => {
    const real = await newUser();
    const noEmail = await newUser(false);
    const pages = await Promise.all([forgot(real.username), forgot(randomName('nobody')), forgot(noEmail.username)]);
    for (const page of pages) assert.equal(page.status, 200);
    assert.equal(mainOf(pages[1]?.html ?? ''), mainOf(pages[0]?.html ?? ''));
    assert.equal(mainOf(pages[2]?.html ?? ''), mainOf(pages[0]?.html ?? ''));
  });

  test('no enumeration by timing: existing and unknown accounts are answered after the same time', async () => {
    const users = await Promise.all(Array.from({ length: 8 }, () => newUser()));
    const known: number[] = [];
    const unknown: number[] = [];
    for (const user of users) {
      // interleaved, so a slow moment of the machine falls on both
      known.push((await forgot(user.email)).ms);
      unknown.push((await forgot(`${randomName('ghost')}@example.test`)).ms);
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
    const figures = { knownMedianMs: median(known), unknownMedianMs: median(unknown) };
    console.log(
      `reset answer timing: ${JSON.stringify({ ...figures, known: known.map(Math.round), unknown: unknown.map(Math.round) })}`,
    );
    assert.ok(Math.abs(figures.knownMedianMs - figures.unknownMedianMs) < 40, JSON.stringify(figures));
    for (const user of users) await smtp.waitFor(user.email, /Reset your/);
  });

  test('limits: per name typed (429, existing or not), and per account across its names (silently)', async () => {
    const user = await newUser();
    const ghost = randomName('ghost');
    for (let i = 0; i < 3; i++) assert.equal((await forgot(ghost)).status, 200);
    const over = await forgot(ghost);
    assert.equal(over.status, 429);
    assert.ok(Number(over.headers.get('retry-after')) > 0);

    const before = smtp.received.length;
    // two by username, two by email: four for the account, two for each name
    for (const login of [user.username, user.email, user.username, user.email]) {
      assert.equal((await forgot(login)).status, 200);
    }
    await smtp.waitFor(user.email, /Reset your/, { since: before });
    await new Promise((r) => setTimeout(r, 500));
    const mails = smtp.received.slice(before).filter((m) => m.to.includes(user.email));
    assert.equal(mails.length, 3, 'the fourth request for the account sent nothing');
  });

  test('POST /admin/users/{id}/password-reset mails a link (202), under users:write, with an event naming the admin', async () => {
    const user = await newUser();
    const before = smtp.received.length;
    const res = await server.admin<{ expires_at: string }>('POST', `/users/${user.id}/password-reset`);
    assert.equal(res.status, 202);
    const minutes = (Date.parse(res.body.expires_at) - Date.now()) / 60_000;
    assert.ok(minutes > 14 && minutes <= 15, `valid ~15 minutes: ${minutes}`);
    const link = linkIn(
      await smtp.waitFor(user.email, /Reset your/, { since: before }),
      `${server.issuer}/password/reset?token=`,
    );
    assert.ok(
      !JSON.stringify(res.body).includes(new URL(link).searchParams.get('token') ?? '-'),
      'the admin never sees the link',
    );
    const events = await waitForEvents<{ type: string; actor: string }>(server, {
      type: 'password.reset_requested',
      subject: user.id,
    });
    assert.equal(events[0]?.actor, 'test-admin');

    const readOnly = await server.adminToken('users:read');
    assert.equal((await server.admin('POST', `/users/${user.id}/password-reset`, undefined, readOnly)).status, 403);
    assert.equal((await server.admin('POST', '/users/does-not-exist/password-reset')).status, 404);
    const noEmail = await newUser(false);
    const refused = await server.admin<{ details: { field: string }[] }>('POST', `/users/${noEmail.id}/password-reset`);
    assert.equal(refused.status, 400);
    assert.equal(refused.body.details[0]?.field, 'email');
  });

  test('a form without the cookie-bound CSRF token is refused', async () => {
    const res = await new PageBrowser(server.url).post('/password/forgot', { username: 'someone' });
    assert.equal(res.status, 403);
  });
});
