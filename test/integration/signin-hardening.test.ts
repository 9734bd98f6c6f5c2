import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { createPasskeyRepository } from '../../src/db/repositories/passkeys.ts';
import type { AdminEvent as Event } from '../helpers/form-signin.ts';
import {
  CookieJar,
  createUser,
  follow,
  postLogin,
  registerWebClient,
  startSignIn,
  waitForEvents,
} from '../helpers/form-signin.ts';
import { randomName, startTestServer, type TestServer } from '../helpers/server.ts';

const PASSWORD = 'correct horse battery staple';
const NEW_PASSWORD = 'another horse, another staple';
const from = (ip: string) => ({ 'x-forwarded-for': ip });

/** Gives the user a passkey row directly (no browser): enough for the rules that count passkeys. */
async function givePasskey(server: TestServer, userId: string) {
  const repo = createPasskeyRepository(server.running.app.db.prisma);
  const created = await repo.create({
    id: randomUUID(),
    userId,
    credentialId: randomBytes(16).toString('base64url'),
    publicKey: new Uint8Array(randomBytes(77)),
    counter: 0,
    transports: ['internal'],
    backupEligible: false,
    backedUp: false,
    aaguid: '00000000-0000-0000-0000-000000000000',
    name: 'Phone',
  });
  assert.ok(created);
}

/** Signs in to /account with a password, as a browser would; returns the jar and the page reached. */
async function accountSignIn(server: TestServer, username: string, password: string, headers = {}) {
  const jar = new CookieJar();
  const login = await follow(server, jar, '/account');
  const uid = /\/interaction\/([^/]+)\/login/.exec(login.html)?.[1];
  const csrf = /name="csrf" value="([^"]+)"/.exec(login.html)?.[1];
  assert.ok(uid && csrf, `a sign-in page: ${login.html.slice(0, 200)}`);
  const res = await postLogin(server, { jar, uid, csrf }, username, password, headers);
  assert.equal(res.status, 303, res.html.slice(0, 300));
  const page = await follow(server, jar, res.headers.get('location') as string);
  return { jar, page };
}

const csrfOf = (html: string) => /data-csrf="([^"]+)"/.exec(html)?.[1] ?? '';

describe('sign-in hardening', () => {
  let server: TestServer;
  let web: Awaited<ReturnType<typeof registerWebClient>>;

  before(async () => {
    server = await startTestServer({
      env: {
        TRUST_PROXY: 'true',
        LOCKOUT_THRESHOLD: '3',
        LOCKOUT_ACCOUNT_THRESHOLD: '5',
        LOCKOUT_SECONDS: '60',
        SIGNIN_DELAY_MS: '5',
        RATE_LIMIT_SIGNIN_IP: '1000',
        RATE_LIMIT_SIGNIN_ACCOUNT: '5',
      },
    });
    web = await registerWebClient(server, { first_party: true });
  });
  after(() => server?.close());

  describe('lockout', () => {
    test('regression: wrong passwords from one address do not keep the real user out from another address', async () => {
      const username = randomName('victim');
      await createUser(server, username, PASSWORD);
      const attack = await startSignIn(server, web);
      const statuses = new Set<number>();
      for (let i = 0; i < 30; i++) {
        statuses.add((await postLogin(server, attack, username, `guess ${i}`, from('10.20.0.1'))).status);
      }
      assert.ok(statuses.has(429), 'the attacking address is stopped');
      // the real user, from elsewhere, in a browser that never signed in before
      const real = await postLogin(server, await startSignIn(server, web), username, PASSWORD, from('10.20.9.9'));
      assert.equal(real.status, 303, 'the real user signs in');
      // and the attacker is still slowed at its own address
      assert.equal((await postLogin(server, attack, username, PASSWORD, from('10.20.0.1'))).status, 429);
    });

    test('regression: an admin unlock clears every counter of the account, the per-account rate included', async () => {
      const username = randomName('spray');
      const userId = await createUser(server, username, PASSWORD);
      const signin = await startSignIn(server, web);
      // a distributed attack: five addresses, one guess each, fill the per-account window
      for (let i = 1; i <= 5; i++) await postLogin(server, signin, username, `guess ${i}`, from(`10.21.0.${i}`));
      const blocked = await postLogin(server, await startSignIn(server, web), username, PASSWORD, from('10.21.1.1'));
      assert.equal(blocked.status, 429, 'a distributed attack still stops a new browser');
      assert.equal((await server.admin('POST', `/users/${userId}/unlock`)).status, 204);
      const after = await postLogin(server, await startSignIn(server, web), username, PASSWORD, from('10.21.1.1'));
      assert.equal(after.status, 303, 'unlocked');
    });

    test('a browser that signed in before is spared the account-wide lock (known device)', async () => {
      const username = randomName('known');
      await createUser(server, username, PASSWORD);
      const mine = await startSignIn(server, web);
      assert.equal((await postLogin(server, mine, username, PASSWORD, from('10.22.0.1'))).status, 303);
      const attack = await startSignIn(server, web);
      for (let i = 1; i <= 10; i++) await postLogin(server, attack, username, `guess ${i}`, from(`10.22.1.${i}`));
      const stranger = await postLogin(server, await startSignIn(server, web), username, PASSWORD, from('10.22.2.1'));
      assert.equal(stranger.status, 429, 'locked for a browser it does not know');
      // the same browser (its cookie jar) starts a new sign-in from a new address
      const again = await startSignIn(server, web);
      const known = mine.jar
        .header()
        .split('; ')
        .filter((c) => c.startsWith('idp_known'));
      assert.equal(known.length, 2, 'the known-device cookie and its signature');
      const headers = new Headers();
      for (const c of known) headers.append('set-cookie', c);
      again.jar.store({ headers } as Response);
      assert.equal((await postLogin(server, again, username, PASSWORD, from('10.22.2.2'))).status, 303);
    });
  });

  test('regression: a password typed into the username field does not land in the event log', async () => {
    const typed = `Pw-${randomBytes(6).toString('hex')}!`;
    const signin = await startSignIn(server, web);
    await postLogin(server, signin, typed, 'whatever', from('10.23.0.1'));
    const events = await waitForEvents<Event>(server, { type: 'signin.failed' }, (list) =>
      list.some((e) => e.ip === '10.23.0.1'),
    );
    const mine = events.filter((e) => e.ip === '10.23.0.1');
    assert.ok(mine.length > 0);
    const all = JSON.stringify(await server.admin('GET', '/events?limit=200'));
    assert.ok(!all.includes(typed), 'the typed text is nowhere in the log');
    assert.ok(!all.includes(typed.toLowerCase()));
    assert.equal(mine[0]?.details.login_prefix, 'Pw…');
    assert.match(String(mine[0]?.details.login_digest), /^[A-Za-z0-9_-]{16}$/);
    // a name that is an account is still shown, with the account as the subject
    const known = randomName('named');
    const id = await createUser(server, known, PASSWORD);
    await postLogin(server, signin, known, 'wrong', from('10.23.0.2'));
    const named = await waitForEvents<Event>(server, { type: 'signin.failed', subject: id });
    assert.equal(named[0]?.details.login, known);
  });

  describe('password change and disabled accounts end sessions', () => {
    /** A signed-in browser with a refresh token, through the code flow. */
    const signedIn = async (username: string) => {
      const signin = await startSignIn(server, web, {}, { scope: 'openid offline_access', prompt: 'consent' });
      const ok = await postLogin(server, signin, username, PASSWORD, from('10.24.0.1'));
      assert.equal(ok.status, 303);
      const callback = await follow(server, signin.jar, ok.headers.get('location') as string);
      const code = callback.location?.searchParams.get('code');
      assert.ok(code, 'a code');
      const tokens = await server.token(web.clientId, web.clientSecret, {
        grant_type: 'authorization_code',
        code,
        redirect_uri: web.redirectUri,
        code_verifier: signin.verifier,
      });
      assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
      return { jar: signin.jar, refresh: tokens.body.refresh_token as string };
    };
    /** The same browser asks the application to sign in again: a code at once, or the sign-in page. */
    const authorizeAgain = async (jar: CookieJar) => {
      const params = new URLSearchParams({
        response_type: 'code',
        client_id: web.clientId,
        redirect_uri: web.redirectUri,
        scope: 'openid',
        code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
        code_challenge_method: 'S256',
      });
      return follow(server, jar, `/auth?${params}`);
    };

    test('regression: changing the password (admin PATCH) ends earlier sessions and refresh tokens', async () => {
      const username = randomName('pwchange');
      const userId = await createUser(server, username, PASSWORD);
      const { jar, refresh } = await signedIn(username);
      const silent = await authorizeAgain(jar);
      assert.ok(silent.location?.searchParams.get('code'), 'the session signs in silently before the change');

      const patched = await server.admin('PATCH', `/users/${userId}`, { password: NEW_PASSWORD });
      assert.equal(patched.status, 200);

      const refreshed = await server.token(web.clientId, web.clientSecret, {
        grant_type: 'refresh_token',
        refresh_token: refresh,
      });
      assert.equal(refreshed.status, 400);
      assert.equal(refreshed.body.error, 'invalid_grant');
      const again = await authorizeAgain(jar);
      assert.equal(again.status, 200, 'the sign-in page, not a code');
      assert.match(again.html, /name="password"/);
      const revoked = await waitForEvents<Event>(server, { type: 'session.revoked', subject: userId });
      assert.equal(revoked[0]?.details.reason, 'password_changed');
    });

    test('regression: after a user is disabled, their old session is sent to sign in (not a 500)', async () => {
      const username = randomName('disabled');
      const userId = await createUser(server, username, PASSWORD);
      const { jar, refresh } = await signedIn(username);
      assert.equal((await server.admin('PATCH', `/users/${userId}`, { status: 'disabled' })).status, 200);
      const again = await authorizeAgain(jar);
      assert.equal(again.status, 200);
      assert.match(again.html, /name="password"/);
      const refreshed = await server.token(web.clientId, web.clientSecret, {
        grant_type: 'refresh_token',
        refresh_token: refresh,
      });
      assert.equal(refreshed.status, 400);
    });

    test('regression: a session whose account vanished without its sessions ending gets the sign-in page, not a 500', async () => {
      const username = randomName('vanished');
      const userId = await createUser(server, username, PASSWORD);
      const { jar } = await signedIn(username);
      // the account disappears behind the provider's back: its session and grant outlive it
      await server.running.app.db.prisma.user.update({ where: { id: userId }, data: { status: 'disabled' } });
      await server.running.app.db.prisma.oidcPayload.deleteMany({ where: { model: 'Grant' } });
      const again = await authorizeAgain(jar);
      assert.equal(again.status, 200);
      assert.match(again.html, /name="password"/);
    });
  });

  describe('/account changes need a passkey once the account has one', () => {
    test('regression: a password-only session cannot start adding a passkey, remove one, or change the MFA setting', async () => {
      const username = randomName('mfa-bypass');
      const userId = await createUser(server, username, PASSWORD);
      await givePasskey(server, userId);
      const { jar, page } = await accountSignIn(server, username, PASSWORD, from('10.25.0.1'));
      assert.match(page.html, /id="step-up"/, 'the page offers the passkey step-up');
      const csrf = csrfOf(page.html);

      const options = await fetch(`${server.url}/account/passkeys/options`, {
        method: 'POST',
        headers: { cookie: jar.header(), 'content-type': 'application/json' },
        body: JSON.stringify({ csrf }),
      });
      assert.equal(options.status, 403);
      assert.equal(((await options.json()) as { error: string }).error, 'step_up_required');

      const verify = await fetch(`${server.url}/account/passkeys/verify`, {
        method: 'POST',
        headers: { cookie: jar.header(), 'content-type': 'application/json' },
        body: JSON.stringify({
          csrf,
          response: {
            id: 'AAAA',
            rawId: 'AAAA',
            type: 'public-key',
            response: { clientDataJSON: 'AAAA', attestationObject: 'AAAA' },
          },
        }),
      });
      assert.equal(verify.status, 403);

      const mfa = await fetch(`${server.url}/account/mfa`, {
        method: 'POST',
        redirect: 'manual',
        headers: { cookie: jar.header(), 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ csrf, required: 'on' }),
      });
      assert.equal(mfa.headers.get('location'), '/account?notice=step-up');
      const passkeyId = /data-passkey-id="([^"]+)"/.exec(page.html)?.[1];
      const remove = await fetch(`${server.url}/account/passkeys/${passkeyId}/remove`, {
        method: 'POST',
        redirect: 'manual',
        headers: { cookie: jar.header(), 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ csrf }),
      });
      assert.equal(remove.headers.get('location'), '/account?notice=step-up');
      const list = await server.admin<{ data: unknown[] }>('GET', `/users/${userId}/passkeys`);
      assert.equal(list.body.data.length, 1, 'the passkey is still there');
      const user = await createPasskeyRepository(server.running.app.db.prisma).mfaRequired(userId);
      assert.equal(user, false, 'the setting did not change');
    });

    test('an account without a passkey may enrol its first one with the password alone (bootstrap)', async () => {
      const username = randomName('first');
      await createUser(server, username, PASSWORD);
      const { jar, page } = await accountSignIn(server, username, PASSWORD, from('10.25.0.2'));
      assert.doesNotMatch(page.html, /id="step-up"/);
      const options = await fetch(`${server.url}/account/passkeys/options`, {
        method: 'POST',
        headers: { cookie: jar.header(), 'content-type': 'application/json' },
        body: JSON.stringify({ csrf: csrfOf(page.html) }),
      });
      assert.equal(options.status, 200);
    });
  });
});

describe('sign-in hardening with MFA_REQUIRED', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ env: { MFA_REQUIRED: 'true' } });
  });
  after(() => server?.close());

  test('regression: with MFA_REQUIRED, /account asks for the passkey once the user has one', async () => {
    const username = randomName('mfa-account');
    const userId = await createUser(server, username, PASSWORD);
    await givePasskey(server, userId);
    const { page } = await accountSignIn(server, username, PASSWORD);
    assert.match(page.html, /id="passkey-verify"/, 'the second-factor step, not the account page');
    assert.doesNotMatch(page.html, /id="add-passkey"/);
  });

  test('with MFA_REQUIRED, a user without a second factor reaches /account to enrol the first', async () => {
    const username = randomName('mfa-first');
    await createUser(server, username, PASSWORD);
    const { page } = await accountSignIn(server, username, PASSWORD);
    assert.match(page.html, /id="add-passkey"/);
    assert.doesNotMatch(page.html, /id="step-up"/);
  });
});
