import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { decodeJwt } from 'jose';
import { base32Decode, hotp, totpStep } from '../../src/services/totp.ts';
import {
  CookieJar,
  follow,
  type Interaction,
  postLogin,
  registerWebClient,
  startSignIn,
  waitForEvents,
} from '../helpers/form-signin.ts';
import { randomName, startTestServer, type TestServer } from '../helpers/server.ts';
import { startSmtp, type TestSmtp } from '../helpers/smtp.ts';

const PASSWORD = 'correct horse battery staple';

/** The TOTP code `offset` steps from now. */
const codeAt = (secret: string, offset = 0) => hotp(base32Decode(secret), totpStep(Date.now() / 1000) + offset);

describe('second factors: authenticator app (TOTP) and recovery codes', () => {
  let server: TestServer;
  let smtp: TestSmtp;
  let client: Awaited<ReturnType<typeof registerWebClient>>;

  before(async () => {
    smtp = await startSmtp();
    server = await startTestServer({ env: { SMTP_URL: smtp.url, MAIL_FROM: 'idp@example.test' } });
    client = await registerWebClient(server, { first_party: true });
  });
  after(async () => {
    await server?.close();
    await smtp?.close();
  });

  /** A browser's session on /account after the password (the sign-in page, then the account page). */
  const accountSignIn = async (username: string) => {
    const jar = new CookieJar();
    const login = await follow(server, jar, '/account');
    const uid = /\/interaction\/([^/]+)\/login/.exec(login.html)?.[1];
    const csrf = /name="csrf" value="([^"]+)"/.exec(login.html)?.[1];
    assert.ok(uid && csrf, `a sign-in page: ${login.html.slice(0, 200)}`);
    const res = await postLogin(server, { jar, uid, csrf }, username, PASSWORD);
    assert.equal(res.status, 303);
    const page = await follow(server, jar, res.headers.get('location') as string);
    return {
      jar,
      uid,
      interactionCsrf: csrf,
      html: page.html,
      csrf: /name="csrf" value="([^"]+)"/.exec(page.html)?.[1] ?? '',
    };
  };
  const post = (jar: CookieJar, path: string, form: Record<string, string>) =>
    fetch(`${server.url}${path}`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: jar.header(path), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form),
    });
  const page = async (jar: CookieJar, path: string) => {
    const res = await fetch(`${server.url}${path}`, { redirect: 'manual', headers: { cookie: jar.header(path) } });
    return { status: res.status, headers: res.headers, html: await res.text() };
  };
  const codesOf = (html: string) =>
    [...(/data-recovery-codes>([\s\S]*?)<\/ol>/.exec(html)?.[1] ?? '').matchAll(/<code>([^<]+)<\/code>/g)].map(
      (m) => m[1] as string,
    );

  /** A user with a confirmed authenticator app: its secret and recovery codes, and the enrolling session. */
  const enrolled = async () => {
    const username = randomName('totp');
    const made = await server.admin<{ id: string }>('POST', '/users', {
      username,
      password: PASSWORD,
      email: `${username}@example.test`,
    });
    assert.equal(made.status, 201);
    const id = made.body.id;
    const session = await accountSignIn(username);
    assert.match(session.html, /id="add-totp"/);
    const start = await post(session.jar, '/account/totp', { csrf: session.csrf });
    assert.equal(start.status, 303);
    assert.equal(start.headers.get('location'), '/account/totp');
    const enrol = await page(session.jar, '/account/totp');
    assert.equal(enrol.status, 200);
    const secret = /data-totp-secret>([A-Z2-7]+)</.exec(enrol.html)?.[1];
    assert.ok(secret && secret.length === 32, 'the secret as text');
    assert.match(enrol.html, /<svg [^>]*viewBox/, 'the QR code drawn on our side, inline');
    assert.doesNotMatch(enrol.html, /<img|data:/, 'no image to fetch, no data: URL');
    assert.equal(enrol.headers.get('cache-control'), 'no-store');
    return { username, id, secret, session };
  };
  const confirm = async (who: Awaited<ReturnType<typeof enrolled>>) => {
    const res = await post(who.session.jar, '/account/totp/confirm', {
      csrf: who.session.csrf,
      code: codeAt(who.secret),
    });
    const html = await res.text();
    assert.equal(res.status, 200, html.slice(0, 300));
    const codes = codesOf(html);
    return { ...who, codes };
  };

  /** A password sign-in to the web client, stopped at the second-factor page. */
  const toCodeStep = async (username: string) => {
    const interaction = await startSignIn(server, client);
    const res = await postLogin(server, interaction, username, PASSWORD);
    assert.equal(res.status, 303);
    const step = await follow(server, interaction.jar, res.headers.get('location') as string);
    assert.match(step.html, /name="code"/, 'the second-factor step asks for a code');
    return interaction;
  };
  const postCode = async (interaction: Interaction, code: string) => {
    const path = `/interaction/${interaction.uid}/code`;
    const res = await post(interaction.jar, path, { csrf: interaction.csrf, code });
    interaction.jar.store(res, path);
    return { status: res.status, location: res.headers.get('location'), html: await res.text(), headers: res.headers };
  };
  /** Follows a finished interaction to the client and redeems the code: the ID token's claims. */
  const claimsAfter = async (interaction: Interaction & { verifier: string }, location: string) => {
    const end = await follow(server, interaction.jar, location);
    const code = end.location?.searchParams.get('code');
    assert.ok(code, `back at the client with a code: ${end.html.slice(0, 200)}`);
    const res = await fetch(`${server.url}/token`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${client.clientId}:${client.clientSecret}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code,
        redirect_uri: client.redirectUri,
        code_verifier: interaction.verifier,
      }),
    });
    const body = (await res.json()) as { id_token: string };
    assert.equal(res.status, 200, JSON.stringify(body));
    return decodeJwt(body.id_token);
  };

  test('enrol on /account: a wrong code is refused, the right one turns it on and shows ten recovery codes once', async () => {
    const who = await enrolled();
    const wrong = await post(who.session.jar, '/account/totp/confirm', {
      csrf: who.session.csrf,
      code: String((Number(codeAt(who.secret)) + 500_000) % 1_000_000).padStart(6, '0'),
    });
    assert.equal(wrong.status, 400);
    assert.match(await wrong.text(), /did not match/);
    const { codes } = await confirm(who);
    assert.equal(codes.length, 10);
    assert.equal(new Set(codes).size, 10);
    for (const c of codes) assert.match(c, /^[0-9a-z]{5}-[0-9a-z]{5}$/);
    // the account page now says so, and enrolling again is refused until it is removed
    const account = await page(who.session.jar, '/account');
    assert.match(account.html, /data-totp="on"/);
    assert.match(account.html, /10 of 10 recovery codes left/);
    const again = await page(who.session.jar, '/account/totp');
    assert.equal(again.status, 303, 'no enrolment page once an app is confirmed');

    const events = await waitForEvents(server, { subject: who.id, type: 'mfa.*' }, (e) => e.length >= 2);
    assert.deepEqual(events.map((e) => e.type).sort(), ['mfa.recovery_codes_generated', 'mfa.totp_added']);
    const all = JSON.stringify(events);
    assert.ok(!all.includes(who.secret), 'no secret in events');
    for (const c of codes)
      assert.ok(!all.includes(c) && !all.includes(c.replace('-', '')), 'no recovery code in events');
  });

  test('sign-in: the password leads to the code step; TOTP gives amr otp and acr mfa; a code is good once, even in parallel', async () => {
    const who = await confirm(await enrolled());
    // the confirmation used the current step: the next one signs in
    const code = codeAt(who.secret, 1);
    const [a, b] = [await toCodeStep(who.username), await toCodeStep(who.username)];
    const answers = await Promise.all([postCode(a, code), postCode(b, code)]);
    const won = answers.filter((r) => r.status === 303);
    assert.equal(won.length, 1, `one of two racing uses wins: ${answers.map((r) => r.status)}`);
    const winner = answers[0]?.status === 303 ? a : b;
    const loser = answers.find((r) => r.status !== 303);
    assert.equal(loser?.status, 200);
    assert.match(loser?.html ?? '', /That code is not valid/);
    const claims = await claimsAfter(winner, won[0]?.location as string);
    assert.deepEqual(claims.amr, ['pwd', 'otp', 'mfa']);
    assert.equal(claims.acr, 'urn:idp:acr:mfa');
    // an older step after a newer one was used: refused too
    const c = await toCodeStep(who.username);
    assert.equal((await postCode(c, codeAt(who.secret, 0))).status, 200);
  });

  test('a recovery code signs in once; its use is recorded without the code', async () => {
    const who = await confirm(await enrolled());
    const [first] = who.codes as [string];
    const a = await toCodeStep(who.username);
    // typed loosely: upper case, without the dash, with spaces
    const ok = await postCode(a, ` ${first.replace('-', '').toUpperCase()} `);
    assert.equal(ok.status, 303, ok.html.slice(0, 300));
    const claims = await claimsAfter(a, ok.location as string);
    assert.deepEqual(claims.amr, ['pwd', 'otp', 'mfa']);
    assert.equal(claims.acr, 'urn:idp:acr:mfa');
    const b = await toCodeStep(who.username);
    const again = await postCode(b, first);
    assert.equal(again.status, 200, 'a used recovery code is refused');
    const [used] = await waitForEvents(server, { subject: who.id, type: 'mfa.recovery_code_used' });
    assert.equal((used as { details: { remaining: number } }).details.remaining, 9);
    assert.ok(!JSON.stringify(used).includes(first.slice(0, 5)));
    // and its owner is told by mail, without the code
    const mail = await smtp.waitFor(`${who.username}@example.test`, /recovery code/);
    assert.match(mail.text, /9 unused codes remain/);
    assert.ok(!mail.text.includes(first.slice(0, 5)) && !mail.html.includes(first.slice(0, 5)));
  });

  test('brute force: five wrong codes lock the code step for the account (429, Retry-After), an admin unlock lifts it', async () => {
    const who = await confirm(await enrolled());
    const a = await toCodeStep(who.username);
    for (let i = 0; i < 5; i++) assert.equal((await postCode(a, `00000${i}`)).status, 200);
    // now even a correct code is refused, in this interaction and in a new one
    const locked = await postCode(a, who.codes[0] as string);
    assert.equal(locked.status, 429);
    assert.ok(Number(locked.headers.get('retry-after')) > 0);
    const b = await toCodeStep(who.username);
    assert.equal((await postCode(b, who.codes[0] as string)).status, 429);
    const [lock] = await waitForEvents(server, { subject: who.id, type: 'signin.locked' });
    assert.equal((lock as { details: { scope: string } }).details.scope, 'second_factor');
    assert.equal((await server.admin('POST', `/users/${who.id}/unlock`)).status, 204);
    assert.equal((await postCode(b, who.codes[0] as string)).status, 303, 'unlocked: the recovery code works');
  });

  test('step-up: a password-only session cannot remove the app or make new recovery codes until it proves a code', async () => {
    const who = await confirm(await enrolled());
    const { jar, csrf } = who.session;
    // the enrolling session signed in with the password alone
    const remove = await post(jar, '/account/totp/remove', { csrf });
    assert.match(remove.headers.get('location') ?? '', /notice=step-up/);
    const regenerate = await post(jar, '/account/recovery-codes', { csrf });
    assert.match(regenerate.headers.get('location') ?? '', /notice=step-up/);
    assert.match((await page(jar, '/account')).html, /id="step-up-code"/);
    const bad = await post(jar, '/account/step-up/code', { csrf, code: '123' });
    assert.match(bad.headers.get('location') ?? '', /notice=bad-code/);
    const stepUp = await post(jar, '/account/step-up/code', { csrf, code: who.codes[1] as string });
    assert.match(stepUp.headers.get('location') ?? '', /notice=confirmed/);
    const fresh = await post(jar, '/account/recovery-codes', { csrf });
    const codes = codesOf(await fresh.text());
    assert.equal(codes.length, 10);
    // the old codes stopped working, the new ones work
    const a = await toCodeStep(who.username);
    assert.equal((await postCode(a, who.codes[2] as string)).status, 200);
    assert.equal((await postCode(a, codes[0] as string)).status, 303);
    const removed = await post(jar, '/account/totp/remove', { csrf });
    assert.match(removed.headers.get('location') ?? '', /notice=totp-removed/);
    // a password alone signs in again
    const b = await startSignIn(server, client);
    const res = await postLogin(server, b, who.username, PASSWORD);
    const next = await follow(server, b.jar, res.headers.get('location') as string);
    assert.ok(next.location?.searchParams.get('code'), 'straight back to the client');
  });

  test('a password alone never reaches /account of an account with an app: the code step comes first', async () => {
    const who = await confirm(await enrolled());
    const other = await accountSignIn(who.username);
    assert.match(other.html, /name="code"/);
    assert.doesNotMatch(other.html, /id="add-totp"|id="remove-totp"/);
    assert.equal((await page(other.jar, '/account')).status, 303, 'no account page: not signed in');
    assert.equal((await post(other.jar, '/account/totp/remove', { csrf: other.csrf })).status, 303);
    assert.equal(
      (await server.admin<{ totp_removed: boolean }>('DELETE', `/users/${who.id}/mfa`)).body.totp_removed,
      true,
    );
  });

  test('bad input at the code step is a 4xx, never a 5xx', async () => {
    const who = await confirm(await enrolled());
    const a = await toCodeStep(who.username);
    for (const code of ['x'.repeat(100_000), '\u{1F600}'.repeat(40), '99999999999999999999999', '']) {
      const res = await postCode(a, code);
      assert.ok(res.status < 500 && res.status >= 200, `${res.status} for ${code.slice(0, 10)}`);
    }
    const nul = await postCode(a, 'a\u0000b');
    assert.equal(nul.status, 400, nul.html.slice(0, 2000));
    // a lone surrogate, percent-encoded as a raw form would carry it (URLSearchParams would replace it)
    const path = `/interaction/${a.uid}/code`;
    const lone = await fetch(`${server.url}${path}`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: a.jar.header(path), 'content-type': 'application/x-www-form-urlencoded' },
      body: `csrf=${encodeURIComponent(a.csrf)}&code=%ED%A0%80`,
    });
    assert.equal(lone.status, 400);
    // no second-factor step waits in an interaction that has none: the expired page
    const fresh = await startSignIn(server, client);
    const res = await postCode(fresh, '123456');
    assert.equal(res.status, 400);
    await server.admin('DELETE', `/users/${who.id}/mfa`);
  });

  test('admin reset: DELETE /admin/users/{id}/mfa removes the app and the codes (users:write), then the password alone signs in', async () => {
    const who = await confirm(await enrolled());
    const reader = await server.adminToken('users:read');
    assert.equal((await server.admin('DELETE', `/users/${who.id}/mfa`, undefined, reader)).status, 403);
    assert.equal((await server.admin('DELETE', '/users/nobody/mfa')).status, 404);
    const res = await server.admin('DELETE', `/users/${who.id}/mfa`);
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { user_id: who.id, totp_removed: true, recovery_codes_removed: 10 });
    const [reset] = await waitForEvents(server, { subject: who.id, type: 'mfa.reset' });
    assert.ok(reset);
    const a = await startSignIn(server, client);
    const login = await postLogin(server, a, who.username, PASSWORD);
    const next = await follow(server, a.jar, login.headers.get('location') as string);
    assert.ok(next.location?.searchParams.get('code'), 'no code step any more');
    const again = await server.admin('DELETE', `/users/${who.id}/mfa`);
    assert.deepEqual(again.body, { user_id: who.id, totp_removed: false, recovery_codes_removed: 0 });
  });
});
