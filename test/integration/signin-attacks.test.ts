import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { normalizeUsername } from '../../src/services/accounts.ts';
import {
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

interface Event {
  type: string;
  subject: string | null;
  ip: string | null;
  details: Record<string, unknown>;
}

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
