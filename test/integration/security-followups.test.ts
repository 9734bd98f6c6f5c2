import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { normalizeUsername } from '../../src/services/accounts.ts';
import { deriveKeys } from '../../src/services/secrets.ts';
import { unknownLogin } from '../../src/services/signin-protection.ts';
import {
  CookieJar,
  createUser,
  follow,
  postLogin,
  registerWebClient,
  startSignIn,
  waitForEvents,
} from '../helpers/form-signin.ts';
import { registerApi, registerService } from '../helpers/oidc.ts';
import { randomName, startTestServer, type TestServer } from '../helpers/server.ts';
import { SoftAuthenticator } from '../helpers/soft-authenticator.ts';

const PASSWORD = 'correct horse battery staple';
const NEW_PASSWORD = 'another horse, another staple';
const API = 'https://ledger.example';

const basic = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

/** Waits until the clock has entered a later whole second than `since` (epoch ms): `iat` has whole seconds. */
const nextSecond = async (since: number) => {
  const wait = Math.ceil(since / 1000) * 1000 + 50 - Date.now();
  if (wait > 0) await sleep(wait);
};

describe('introspection answers for what a JWT access token speaks for, now', () => {
  let server: TestServer;
  let web: Awaited<ReturnType<typeof registerWebClient>>;
  /** the resource server of API: may introspect its tokens */
  let rs: { client_id: string; client_secret: string };

  before(async () => {
    server = await startTestServer();
    await registerApi(server, API, ['ledger:read']);
    const role = await server.admin('POST', '/roles', {
      name: 'ledger-reader',
      permissions: [{ resource: API, scope: 'ledger:read' }],
    });
    assert.equal(role.status, 201, JSON.stringify(role.body));
    web = await registerWebClient(server, { first_party: true, allowedResources: { [API]: ['ledger:read'] } });
    rs = await registerService(server, {}, { introspection_audiences: [API] });
  });
  after(() => server?.close());

  const newUser = async () => {
    const username = randomName('fresh');
    const res = await server.admin<{ id: string }>('POST', '/users', {
      username,
      password: PASSWORD,
      roles: ['ledger-reader'],
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return { username, id: res.body.id };
  };

  /** A user's access token for API, through the code flow as a browser and its application would get it. */
  const userToken = async (
    username: string,
    password = PASSWORD,
    client: { clientId: string; clientSecret: string; redirectUri: string } = web,
  ) => {
    const signin = await startSignIn(server, client, {}, { scope: 'openid ledger:read', resource: API });
    const ok = await postLogin(server, signin, username, password);
    assert.equal(ok.status, 303, ok.html.slice(0, 200));
    const callback = await follow(server, signin.jar, ok.headers.get('location') as string);
    const code = callback.location?.searchParams.get('code');
    assert.ok(code, 'a code');
    const tokens = await server.token(client.clientId, client.clientSecret, {
      grant_type: 'authorization_code',
      code,
      redirect_uri: client.redirectUri,
      code_verifier: signin.verifier,
      resource: API,
    });
    assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
    const token = tokens.body.access_token as string;
    assert.equal(token.split('.').length, 3, 'a JWT access token');
    return token;
  };

  const introspect = async (token: string, on: TestServer = server) => {
    const res = await fetch(`${on.url}/token/introspection`, {
      method: 'POST',
      headers: {
        authorization: basic(rs.client_id, rs.client_secret),
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ token }),
    });
    assert.equal(res.status, 200);
    return (await res.json()) as { active: boolean; sub?: string };
  };

  test("regression: a user's JWT access token stayed active at introspection after their password changed", async () => {
    const user = await newUser();
    const token = await userToken(user.username);
    assert.equal((await introspect(token)).active, true);
    assert.equal((await introspect(token)).sub, user.id);
    const changed = Date.now();
    assert.equal((await server.admin('PATCH', `/users/${user.id}`, { password: NEW_PASSWORD })).status, 200);
    assert.equal((await introspect(token)).active, false, 'the old token ends with the old password');
    // a token issued after the change stands
    await nextSecond(changed);
    const fresh = await userToken(user.username, NEW_PASSWORD);
    assert.equal((await introspect(fresh)).active, true);
  });

  test("regression: a user's JWT access token stayed active after the user was disabled, and enabling them does not revive it", async () => {
    const user = await newUser();
    const token = await userToken(user.username);
    assert.equal((await introspect(token)).active, true);
    assert.equal((await server.admin('PATCH', `/users/${user.id}`, { status: 'disabled' })).status, 200);
    assert.equal((await introspect(token)).active, false);
    assert.equal((await server.admin('PATCH', `/users/${user.id}`, { status: 'active' })).status, 200);
    assert.equal((await introspect(token)).active, false, 'the token was issued before the account was disabled');
  });

  test("regression: a user's JWT access token stayed active after the user was deleted", async () => {
    const user = await newUser();
    const token = await userToken(user.username);
    assert.equal((await introspect(token)).active, true);
    assert.equal((await server.admin('DELETE', `/users/${user.id}`)).status, 204);
    assert.equal((await introspect(token)).active, false);
  });

  test("regression: a user's JWT access token stayed active after their sessions were ended", async () => {
    const user = await newUser();
    const token = await userToken(user.username);
    assert.equal((await introspect(token)).active, true);
    const before = await server.admin<{ updated_at: string }>('GET', `/users/${user.id}`);
    await server.running.app.services.accounts.endSessions(user.id, 'admin');
    assert.equal((await introspect(token)).active, false);
    // ending sessions is not an edit of the user: an admin's If-Match still holds
    const after = await server.admin<{ updated_at: string }>('GET', `/users/${user.id}`);
    assert.equal(after.body.updated_at, before.body.updated_at);
    assert.equal(after.headers.get('etag'), before.headers.get('etag'));
  });

  test('regression: a JWT access token stayed active at introspection after its client was deleted', async () => {
    // a service's own token (sub = the client)
    const service = await registerService(server, { [API]: ['ledger:read'] });
    const issued = await server.token(service.client_id, service.client_secret, {
      grant_type: 'client_credentials',
      resource: API,
      scope: 'ledger:read',
    });
    assert.equal(issued.status, 200, JSON.stringify(issued.body));
    const serviceToken = issued.body.access_token as string;
    // and a user's token from a web application
    const app = await registerWebClient(server, { first_party: true, allowedResources: { [API]: ['ledger:read'] } });
    const user = await newUser();
    const userTokenOfApp = await userToken(user.username, PASSWORD, app);
    assert.equal((await introspect(serviceToken)).active, true);
    assert.equal((await introspect(userTokenOfApp)).active, true);

    assert.equal((await server.admin('DELETE', `/clients/${service.client_id}`)).status, 204);
    assert.equal((await server.admin('DELETE', `/clients/${app.clientId}`)).status, 204);
    assert.equal((await introspect(serviceToken)).active, false);
    assert.equal((await introspect(userTokenOfApp)).active, false);
  });

  test('a client created again under a deleted one’s id does not revive the old tokens', async () => {
    const id = randomName('svc');
    const create = () =>
      server.admin('POST', '/clients', { client_id: id, allowedResources: { [API]: ['ledger:read'] } });
    const first = await create();
    assert.equal(first.status, 201);
    const secret = (first.body as { client_secret: string }).client_secret;
    const issued = await server.token(id, secret, { grant_type: 'client_credentials', resource: API });
    const old = issued.body.access_token as string;
    assert.equal((await server.admin('DELETE', `/clients/${id}`)).status, 204);
    // past the allowance for clocks that differ between instances
    await sleep(3100);
    assert.equal((await create()).status, 201);
    assert.equal((await introspect(old)).active, false);
  });

  test("regression: a deleted admin client's token kept working on the admin API until it expired", async () => {
    const ops = await server.admin<{ client_id: string; client_secret: string }>('POST', '/clients', {
      client_name: 'ops',
      allowedResources: { [`${server.issuer}/admin`]: ['users:read'] },
    });
    assert.equal(ops.status, 201, JSON.stringify(ops.body));
    const issued = await server.token(ops.body.client_id, ops.body.client_secret, {
      grant_type: 'client_credentials',
      resource: `${server.issuer}/admin`,
      scope: 'users:read',
    });
    assert.equal(issued.status, 200, JSON.stringify(issued.body));
    const token = issued.body.access_token as string;
    assert.equal((await server.admin('GET', '/users?limit=1', undefined, token)).status, 200);
    assert.equal((await server.admin('DELETE', `/clients/${ops.body.client_id}`)).status, 204);
    const refused = await server.admin<{ error: string }>('GET', '/users?limit=1', undefined, token);
    assert.equal(refused.status, 401);
    assert.equal(refused.body.error, 'invalid_token');
    assert.match(refused.headers.get('www-authenticate') ?? '', /^Bearer/);
  });

  test('another instance on the same database learns of the change at once (no stale cache)', async (t) => {
    if (server.database.kind !== 'postgres') return t.skip('two instances need PostgreSQL');
    // one deployment: the same issuer and database
    const other = await startTestServer({
      database: { ...server.database, drop: async () => {} },
      env: { ISSUER: server.issuer },
    });
    try {
      const user = await newUser();
      const token = await userToken(user.username);
      // the other instance has the user's standing cached now
      assert.equal((await introspect(token, other)).active, true);
      assert.equal((await server.admin('PATCH', `/users/${user.id}`, { status: 'disabled' })).status, 200);
      let active = true;
      for (let i = 0; i < 20 && active; i++) {
        active = (await introspect(token, other)).active;
        if (active) await sleep(50);
      }
      assert.equal(active, false, 'the other instance still answers active');
    } finally {
      await other.close();
    }
  });
});

describe('TRUST_PROXY with a number of proxies', () => {
  let server: TestServer;
  let web: Awaited<ReturnType<typeof registerWebClient>>;

  before(async () => {
    // a CDN in front of a load balancer: each appends the address it saw
    server = await startTestServer({ env: { TRUST_PROXY: '2', SIGNIN_DELAY_MS: '1' } });
    web = await registerWebClient(server, { first_party: true });
  });
  after(() => server?.close());

  test('regression: with a CDN in front of the load balancer, the CDN was taken for the client', async () => {
    const username = randomName('hops');
    const id = await createUser(server, username, PASSWORD);
    const signin = await startSignIn(server, web);
    // client-chosen entry, the client (appended by the CDN), the CDN (appended by the load balancer)
    const forwarded = { 'x-forwarded-for': '198.51.100.66, 10.41.0.7, 10.99.0.1' };
    assert.equal((await postLogin(server, signin, username, 'wrong', forwarded)).status, 200);
    const events = await waitForEvents<{ ip: string | null }>(server, { type: 'signin.failed', subject: id });
    assert.equal(events[0]?.ip, '10.41.0.7');
  });
});

describe('sign-in counters hold no unkeyed hash of the typed name', () => {
  const SECRETS_KEY = 'followup-secrets-key-0123456789abcdef0123456789abcdef';
  let server: TestServer;
  let redis: Redis;
  let web: Awaited<ReturnType<typeof registerWebClient>>;

  before(async () => {
    // every server has its own issuer (its port), so its own key prefix on the shared Redis
    server = await startTestServer({
      env: { REDIS_URL: 'redis://127.0.0.1:6379', SECRETS_KEY, SIGNIN_DELAY_MS: '1', RATE_LIMIT_SIGNIN_ACCOUNT: '50' },
    });
    redis = new Redis('redis://127.0.0.1:6379');
    web = await registerWebClient(server, { first_party: true });
  });
  after(async () => {
    redis?.disconnect();
    await server?.close();
  });

  const namespace = () => `idp:${createHash('sha256').update(server.issuer).digest('hex').slice(0, 12)}`;
  const keys = async () => {
    const found: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await redis.scan(cursor, 'MATCH', `${namespace()}:*`, 'COUNT', 1000);
      cursor = next;
      found.push(...batch);
    } while (cursor !== '0');
    return found;
  };

  test('regression: the Redis lockout counters were keyed by a plain SHA-256 of the typed name', async () => {
    // a password typed into the username field
    const typed = `Pw-${randomBytes(6).toString('hex')}!`;
    const signin = await startSignIn(server, web);
    await postLogin(server, signin, typed, 'whatever', { 'x-forwarded-for': '10.42.0.1' });
    await postLogin(server, signin, typed, 'whatever again', { 'x-forwarded-for': '10.42.0.1' });
    const all = (await keys()).join('\n');
    assert.match(all, /lock-pair/, 'the counters are in Redis');
    const name = normalizeUsername(typed);
    for (const unkeyed of [
      createHash('sha256').update(name).digest('base64url'),
      createHash('sha256').update(name).digest('hex'),
    ]) {
      assert.ok(!all.includes(unkeyed.slice(0, 16)), 'no dictionary-testable hash of the typed name');
    }
    assert.ok(!all.includes(name), 'nor the name itself');
    // keyed with the event log's digest key, so an operator can still match a counter to its events
    const { eventDigest } = deriveKeys(SECRETS_KEY);
    assert.ok(all.includes(unknownLogin(typed, eventDigest).login_digest), all);
  });
});

describe('renaming a passkey on /account', () => {
  let server: TestServer;

  before(async () => {
    server = await startTestServer();
  });
  after(() => server?.close());

  /** Signs in to /account with a password, as a browser would. */
  const accountSignIn = async (username: string) => {
    const jar = new CookieJar();
    const login = await follow(server, jar, '/account');
    const uid = /\/interaction\/([^/]+)\/login/.exec(login.html)?.[1];
    const csrf = /name="csrf" value="([^"]+)"/.exec(login.html)?.[1];
    assert.ok(uid && csrf, `a sign-in page: ${login.html.slice(0, 200)}`);
    const res = await postLogin(server, { jar, uid, csrf }, username, PASSWORD);
    assert.equal(res.status, 303);
    const page = await follow(server, jar, res.headers.get('location') as string);
    assert.match(page.html, /id="add-passkey"/, 'the account page');
    return { jar, csrf: /data-csrf="([^"]+)"/.exec(page.html)?.[1] ?? '' };
  };
  const json = async (who: { jar: CookieJar }, path: string, body: unknown) => {
    const res = await fetch(`${server.url}${path}`, {
      method: 'POST',
      headers: { cookie: who.jar.header(), 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> & { challenge: string } };
  };
  const rename = (who: { jar: CookieJar; csrf: string }, passkeyId: string, name: string) =>
    fetch(`${server.url}/account/passkeys/${passkeyId}/rename`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: who.jar.header(), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrf: who.csrf, name }),
    });
  const passkeys = async (userId: string) =>
    (await server.admin<{ data: { id: string; name: string }[] }>('GET', `/users/${userId}/passkeys`)).body.data;

  test('regression: a password-only session renamed the passkeys of an account that has one', async () => {
    const username = randomName('renamed');
    const id = await createUser(server, username, PASSWORD);
    // the owner enrols a passkey (the bootstrap: the password alone, no factor yet)
    const owner = await accountSignIn(username);
    const device = new SoftAuthenticator(server.issuer);
    const options = await json(owner, '/account/passkeys/options', { csrf: owner.csrf });
    assert.equal(options.status, 200);
    const added = await json(owner, '/account/passkeys/verify', {
      csrf: owner.csrf,
      response: device.register(options.body as never),
      name: 'Work laptop',
    });
    assert.equal(added.status, 200, JSON.stringify(added.body));
    const [passkey] = await passkeys(id);
    assert.ok(passkey);

    // someone with the password only, in a session of their own, tries to relabel it
    const intruder = await accountSignIn(username);
    const res = await rename(intruder, passkey.id, 'old, remove me');
    assert.equal(res.status, 303);
    assert.match(res.headers.get('location') ?? '', /notice=step-up/);
    assert.equal((await passkeys(id))[0]?.name, 'Work laptop');

    // after a passkey step-up the rename goes through
    const challenge = await fetch(`${server.url}/account/step-up/options`, {
      headers: { cookie: intruder.jar.header() },
    });
    const stepUp = await json(intruder, '/account/step-up/verify', {
      csrf: intruder.csrf,
      response: device.authenticate((await challenge.json()) as never),
    });
    assert.equal(stepUp.status, 200, JSON.stringify(stepUp.body));
    const renamed = await rename(intruder, passkey.id, 'Laptop');
    assert.match(renamed.headers.get('location') ?? '', /notice=renamed/);
    assert.equal((await passkeys(id))[0]?.name, 'Laptop');
  });
});
