import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { normalizeUsername } from '../../src/services/accounts.ts';
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
import { SoftAuthenticator, type SoftCredential } from '../helpers/soft-authenticator.ts';

const PASSWORD = 'correct horse battery staple';
const NEW_PASSWORD = 'another horse, another staple';

/** What a proxy that appends to X-Forwarded-For (nginx `$proxy_add_x_forwarded_for`, most load balancers) sends on. */
const viaProxy = (claimed: string, real: string) => ({ 'x-forwarded-for': `${claimed}, ${real}` });
const from = (ip: string) => ({ 'x-forwarded-for': ip });

describe('sign-in attacks: addresses', () => {
  let server: TestServer;
  let web: Awaited<ReturnType<typeof registerWebClient>>;

  before(async () => {
    server = await startTestServer({
      env: {
        TRUST_PROXY: 'true',
        LOCKOUT_THRESHOLD: '3',
        LOCKOUT_ACCOUNT_THRESHOLD: '5',
        LOCKOUT_SECONDS: '60',
        SIGNIN_DELAY_MS: '1',
        RATE_LIMIT_SIGNIN_IP: '1000',
        RATE_LIMIT_SIGNIN_ACCOUNT: '5',
      },
    });
    web = await registerWebClient(server, { first_party: true });
  });
  after(() => server?.close());

  test('regression: a client-chosen X-Forwarded-For entry in front of the proxy does not make one address many', async () => {
    const username = randomName('xff');
    await createUser(server, username, PASSWORD);
    const attack = await startSignIn(server, web);
    const statuses = new Set<number>();
    for (let i = 1; i <= 20; i++) {
      const res = await postLogin(server, attack, username, `guess ${i}`, viaProxy(`198.51.100.${i}`, '10.30.0.1'));
      statuses.add(res.status);
    }
    assert.ok(statuses.has(429), 'the attacking address is locked, whatever it claims in front of the proxy');
    const real = await postLogin(server, await startSignIn(server, web), username, PASSWORD, from('10.30.9.9'));
    assert.equal(real.status, 303, 'the real user elsewhere is not locked out');
  });

  test('regression: one IPv6 host rotating through its /64 is one address for the lockout', async () => {
    const username = randomName('ipv6');
    await createUser(server, username, PASSWORD);
    const attack = await startSignIn(server, web);
    const statuses = new Set<number>();
    for (let i = 1; i <= 20; i++) {
      statuses.add(
        (await postLogin(server, attack, username, `guess ${i}`, from(`2001:db8:30:1::${i.toString(16)}`))).status,
      );
    }
    assert.ok(statuses.has(429), 'the /64 is locked');
    const real = await postLogin(server, await startSignIn(server, web), username, PASSWORD, from('2001:db8:99:1::1'));
    assert.equal(real.status, 303, 'a user in another network signs in');
  });

  test('an IPv4 address written as IPv4-mapped IPv6 is the same address', async () => {
    const username = randomName('mapped');
    await createUser(server, username, PASSWORD);
    const attack = await startSignIn(server, web);
    const statuses: number[] = [];
    for (let i = 1; i <= 4; i++) {
      const ip = i % 2 === 0 ? '::ffff:10.31.0.1' : '10.31.0.1';
      statuses.push((await postLogin(server, attack, username, `guess ${i}`, from(ip))).status);
    }
    assert.ok(statuses.includes(429), statuses.join(','));
  });
});

describe('sign-in attacks: the event log', () => {
  let server: TestServer;
  let web: Awaited<ReturnType<typeof registerWebClient>>;

  before(async () => {
    server = await startTestServer({
      env: { TRUST_PROXY: 'true', SIGNIN_DELAY_MS: '1', RATE_LIMIT_SIGNIN_ACCOUNT: '5' },
    });
    web = await registerWebClient(server, { first_party: true });
  });
  after(() => server?.close());

  test('regression: the account-rate refusal does not put an unkeyed hash of the typed name in the event log', async () => {
    // a password typed into the username field, failing from five addresses, trips the per-name rate
    const typed = `Pw-${randomBytes(6).toString('hex')}!`;
    const statuses: number[] = [];
    for (let i = 1; i <= 6; i++) {
      statuses.push(
        (await postLogin(server, await startSignIn(server, web), typed, 'whatever', from(`10.32.0.${i}`))).status,
      );
    }
    assert.equal(statuses.at(-1), 429, statuses.join(','));
    const tripped = await waitForEvents<Event>(server, { type: 'ratelimit.tripped' }, (list) =>
      list.some((e) => e.ip?.startsWith('10.32.0.')),
    );
    const mine = tripped.filter((e) => e.ip?.startsWith('10.32.0.'));
    assert.ok(mine.length > 0, 'the per-name rate tripped');
    const unkeyed = createHash('sha256').update(normalizeUsername(typed)).digest('base64url');
    const events = await server.admin<{ data: Event[] }>('GET', '/events?limit=200');
    assert.equal(events.status, 200);
    const all = JSON.stringify(events.body.data);
    assert.ok(all.includes(String(mine[0]?.subject)), 'the refusal is among them');
    assert.ok(!all.includes(unkeyed.slice(0, 12)), 'no dictionary-testable hash of the typed text');
  });
});

describe('sign-in attacks: sessions', () => {
  let server: TestServer;
  let web: Awaited<ReturnType<typeof registerWebClient>>;
  let consented: Awaited<ReturnType<typeof registerWebClient>>;

  before(async () => {
    server = await startTestServer();
    web = await registerWebClient(server, { first_party: true });
    consented = await registerWebClient(server);
  });
  after(() => server?.close());

  test('regression: a sign-in finished with the old password before the change cannot be resumed after it', async () => {
    const username = randomName('inflight');
    const userId = await createUser(server, username, PASSWORD);
    const signin = await startSignIn(server, web);
    const ok = await postLogin(server, signin, username, PASSWORD);
    assert.equal(ok.status, 303);
    // the attacker holds the redirect back to the authorization endpoint
    const resume = ok.headers.get('location') as string;
    assert.equal((await server.admin('PATCH', `/users/${userId}`, { password: NEW_PASSWORD })).status, 200);
    const res = await follow(server, signin.jar, resume);
    assert.equal(res.location?.searchParams.get('code') ?? null, null, 'no authorization code');
    assert.notEqual(res.status, 500);
  });

  test('regression: a consent page reached with the old password cannot finish after the change', async () => {
    const username = randomName('inconsent');
    const userId = await createUser(server, username, PASSWORD);
    const signin = await startSignIn(server, consented);
    const ok = await postLogin(server, signin, username, PASSWORD);
    const page = await follow(server, signin.jar, ok.headers.get('location') as string);
    const uid = /\/interaction\/([^/]+)\/confirm/.exec(page.html)?.[1];
    const csrf = /name="csrf" value="([^"]+)"/.exec(page.html)?.[1];
    assert.ok(uid && csrf, `a consent page: ${page.html.slice(0, 200)}`);
    assert.equal((await server.admin('PATCH', `/users/${userId}`, { password: NEW_PASSWORD })).status, 200);
    const confirm = await fetch(`${server.url}/interaction/${uid}/confirm`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: signin.jar.header(), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrf, decision: 'allow' }),
    });
    signin.jar.store(confirm);
    assert.ok(confirm.status < 500, `status ${confirm.status}`);
    const location = confirm.headers.get('location');
    const res = location ? await follow(server, signin.jar, location) : { status: confirm.status, location: undefined };
    assert.equal(res.location?.searchParams.get('code') ?? null, null, 'no authorization code');
    assert.notEqual(res.status, 500);
  });
});

/** Signs in to /account with a password, as a browser would; returns the jar and the account page. */
async function accountSignIn(server: TestServer, username: string, password: string) {
  const jar = new CookieJar();
  const login = await follow(server, jar, '/account');
  const uid = /\/interaction\/([^/]+)\/login/.exec(login.html)?.[1];
  const csrf = /name="csrf" value="([^"]+)"/.exec(login.html)?.[1];
  assert.ok(uid && csrf, `a sign-in page: ${login.html.slice(0, 200)}`);
  const res = await postLogin(server, { jar, uid, csrf }, username, password);
  assert.equal(res.status, 303, res.html.slice(0, 300));
  const page = await follow(server, jar, res.headers.get('location') as string);
  assert.match(page.html, /id="add-passkey"/, 'the account page');
  return { jar, csrf: /data-csrf="([^"]+)"/.exec(page.html)?.[1] ?? '' };
}

type AccountBrowser = Awaited<ReturnType<typeof accountSignIn>>;

const json = async (server: TestServer, who: AccountBrowser, method: string, path: string, body?: unknown) => {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { cookie: who.jar.header(), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await res.text();
  return {
    status: res.status,
    body: (text ? JSON.parse(text) : {}) as Record<string, unknown> & { challenge: string },
  };
};

/** Adds a passkey from `who`'s /account session with `device`; returns the answer of the verify step. */
const addPasskey = async (server: TestServer, who: AccountBrowser, device: SoftAuthenticator) => {
  const options = await json(server, who, 'POST', '/account/passkeys/options', { csrf: who.csrf });
  if (options.status !== 200) return options;
  const response = device.register(options.body as never);
  return json(server, who, 'POST', '/account/passkeys/verify', { csrf: who.csrf, response, name: 'mine' });
};

const stepUp = async (
  server: TestServer,
  who: AccountBrowser,
  device: SoftAuthenticator,
  credential?: SoftCredential,
) => {
  const options = await json(server, who, 'GET', '/account/step-up/options');
  assert.equal(options.status, 200);
  const body = { csrf: who.csrf, response: device.authenticate(options.body, credential) };
  return { answer: await json(server, who, 'POST', '/account/step-up/verify', body), body };
};

describe('sign-in attacks: the /account step-up', () => {
  let server: TestServer;
  let victim: { username: string; id: string; device: SoftAuthenticator; browser: AccountBrowser };
  let attacker: { device: SoftAuthenticator; browser: AccountBrowser };

  const passkeysOf = async (userId: string) =>
    (await server.admin<{ data: unknown[] }>('GET', `/users/${userId}/passkeys`)).body.data.length;

  before(async () => {
    server = await startTestServer();
    const origin = server.issuer;
    // the victim enrols a first passkey (the bootstrap: password alone, no factor yet)
    const username = randomName('victim');
    const id = await createUser(server, username, PASSWORD);
    const device = new SoftAuthenticator(origin);
    const browser = await accountSignIn(server, username, PASSWORD);
    assert.equal((await addPasskey(server, browser, device)).status, 200, 'the software authenticator works');
    victim = { username, id, device, browser };
    // the attacker has an account of their own with a passkey, and the victim's password
    const own = randomName('attacker');
    await createUser(server, own, PASSWORD);
    const attackerDevice = new SoftAuthenticator(origin);
    assert.equal((await addPasskey(server, await accountSignIn(server, own, PASSWORD), attackerDevice)).status, 200);
    attacker = { device: attackerDevice, browser: await accountSignIn(server, username, PASSWORD) };
  });
  after(() => server?.close());

  test("another account's passkey does not step up the victim's session", async () => {
    const { answer } = await stepUp(server, attacker.browser, attacker.device);
    assert.equal(answer.status, 400);
    assert.equal(answer.body.error, 'wrong_user');
    assert.equal((await addPasskey(server, attacker.browser, attacker.device)).status, 403);
    assert.equal(await passkeysOf(victim.id), 1);
  });

  test('a step-up assertion works once, in the session it was made for', async () => {
    const { answer, body } = await stepUp(server, victim.browser, victim.device);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const replay = await json(server, victim.browser, 'POST', '/account/step-up/verify', body);
    assert.equal(replay.status, 400);
    // captured and replayed in the attacker's password-only session (their own CSRF token)
    const elsewhere = await json(server, attacker.browser, 'POST', '/account/step-up/verify', {
      ...body,
      csrf: attacker.browser.csrf,
    });
    assert.equal(elsewhere.status, 400);
    assert.equal((await addPasskey(server, attacker.browser, attacker.device)).status, 403);
  });

  test('registration options fetched during the step-up window do not finish after it', async () => {
    assert.equal((await stepUp(server, victim.browser, victim.device)).answer.status, 200);
    const options = await json(server, victim.browser, 'POST', '/account/passkeys/options', {
      csrf: victim.browser.csrf,
    });
    assert.equal(options.status, 200);
    // the five minutes pass
    await server.running.app.db.prisma.$executeRawUnsafe(
      `UPDATE "oidc_payloads" SET "payload" = jsonb_set("payload", '{at}', to_jsonb(("payload"->>'at')::int - 301))
       WHERE "model" = 'AccountStepUp' AND "payload"->>'accountId' = $1`,
      victim.id,
    );
    const response = victim.device.register(options.body as never);
    const late = await json(server, victim.browser, 'POST', '/account/passkeys/verify', {
      csrf: victim.browser.csrf,
      response,
    });
    assert.equal(late.status, 403);
    assert.equal(late.body.error, 'step_up_required');
  });

  test("the sign-in's passkey enrolment cannot add to an account that has one, even at its second-factor step", async () => {
    const strict = await registerWebClient(server, { first_party: true, require_mfa: true });
    const loose = await registerWebClient(server, { first_party: true });
    for (const client of [strict, loose]) {
      const signin = await startSignIn(server, client);
      const res = await fetch(`${server.url}/interaction/${signin.uid}/login`, {
        method: 'POST',
        redirect: 'manual',
        headers: { cookie: signin.jar.header(), 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          csrf: signin.csrf,
          username: victim.username,
          password: PASSWORD,
          passkey_capable: '1',
        }),
      });
      signin.jar.store(res);
      assert.equal(res.status, 303);
      const options = await fetch(`${server.url}/interaction/${signin.uid}/passkey/register/options`, {
        method: 'POST',
        headers: { cookie: signin.jar.header(), 'content-type': 'application/json' },
        body: JSON.stringify({ csrf: signin.csrf }),
      });
      assert.equal(options.status, 400, client === strict ? 'at the second-factor step' : 'after the sign-in');
    }
    assert.equal(await passkeysOf(victim.id), 1);
  });

  test('bad input to the step-up and passkey endpoints is a 4xx, never a 5xx', async () => {
    // a real assertion, spent: each body below fails on its shape, not on a fresh challenge
    const { answer, body: spent } = await stepUp(server, victim.browser, victim.device);
    assert.equal(answer.status, 200);
    const good = spent.response;
    const nul = '\u0000';
    const bodies: unknown[] = [
      { csrf: nul, response: good },
      { csrf: victim.browser.csrf, response: { ...good, id: `a${nul}` } },
      { csrf: victim.browser.csrf, response: { ...good, response: { ...good.response, userHandle: nul } } },
      { csrf: victim.browser.csrf, response: good, name: nul.repeat(150) },
      { csrf: victim.browser.csrf, response: { ...good, clientExtensionResults: { [nul]: nul } } },
      { csrf: victim.browser.csrf, response: { ...good, id: 'A'.repeat(20_000) } },
      `{"csrf":"${'x'.repeat(40_000)}"}`,
      '{"csrf":',
      '[]',
      'null',
    ];
    const malformed = [bodies[0], ...bodies.slice(-4)];
    for (const [path, list] of [
      ['/account/step-up/verify', bodies],
      ['/account/passkeys/verify', bodies],
      ['/account/passkeys/options', malformed],
    ] as const) {
      for (const body of list) {
        const res = await json(server, victim.browser, 'POST', path, body).catch(() => ({ status: 0, body: {} }));
        assert.ok(res.status >= 400 && res.status < 500, `${path} ${JSON.stringify(body).slice(0, 80)}: ${res.status}`);
      }
    }
    // a real registration named with control characters only: stored under a default name
    const named = await json(server, victim.browser, 'POST', '/account/passkeys/options', {
      csrf: victim.browser.csrf,
    });
    assert.equal(named.status, 200);
    const added = await json(server, victim.browser, 'POST', '/account/passkeys/verify', {
      csrf: victim.browser.csrf,
      response: victim.device.register(named.body as never),
      // (a NUL is refused at the edge before any route; these other controls reach the route)
      name: '\u0001\u202e\u0007'.repeat(60),
    });
    assert.equal(added.status, 200, JSON.stringify(added.body));
    assert.match(String((added.body.passkey as { name: string }).name), /^Passkey \d{4}-\d{2}-\d{2}$/);
    // a real assertion whose clientDataJSON carries a NUL in the challenge
    const raw = JSON.stringify({ type: 'webauthn.get', challenge: `x${nul}`, origin: server.issuer });
    const forged = { ...good, response: { ...good.response, clientDataJSON: Buffer.from(raw).toString('base64url') } };
    const res = await json(server, victim.browser, 'POST', '/account/step-up/verify', {
      csrf: victim.browser.csrf,
      response: forged,
    });
    assert.equal(res.status, 400);
  });
});
