import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { decodeJwt } from 'jose';
import type { AdminEvent as Event } from '../helpers/form-signin.ts';
import {
  type CookieJar,
  createUser,
  follow,
  postLogin,
  registerWebClient,
  startSignIn,
  waitForEvents,
} from '../helpers/form-signin.ts';
import { registerApi } from '../helpers/oidc.ts';
import { randomName, startTestServer, type TestServer } from '../helpers/server.ts';

const PASSWORD = 'correct horse battery staple';
const API = 'https://ledger.costs.example';

/**
 * What a password sign-in costs the server: the requests and records it takes. A first-party
 * client's consent is given at the resume of the login (src/oidc/first-party-grant.ts) rather
 * than in a second interaction, and a sign-in writes nothing an admin would see as a change.
 */
describe('the cost of a password sign-in', () => {
  let server: TestServer;
  let web: Awaited<ReturnType<typeof registerWebClient>>;

  before(async () => {
    server = await startTestServer();
    await registerApi(server, API, ['ledger:read', 'ledger:write']);
    const role = await server.admin('POST', '/roles', {
      name: 'ledger-costs',
      permissions: [{ resource: API, scope: 'ledger:read' }],
    });
    assert.equal(role.status, 201, JSON.stringify(role.body));
    web = await registerWebClient(server, {
      first_party: true,
      allowedResources: { [API]: ['ledger:read', 'ledger:write'] },
    });
  });
  after(() => server?.close());

  const newUser = async () => {
    const username = randomName('costs');
    const res = await server.admin<{ id: string }>('POST', '/users', {
      username,
      password: PASSWORD,
      roles: ['ledger-costs'],
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return { username, id: res.body.id };
  };

  /**
   * The paths a browser visits on this server from `location` on, following redirects, and where
   * it leaves to (the client's callback), if it does.
   */
  const hops = async (jar: CookieJar, location: string) => {
    const paths: string[] = [];
    let url = new URL(location, server.url);
    for (let i = 0; i < 8; i++) {
      if (url.origin !== new URL(server.url).origin && url.origin !== new URL(server.issuer).origin) {
        return { paths, left: url };
      }
      paths.push(url.pathname);
      const res = await fetch(new URL(`${url.pathname}${url.search}`, server.url), {
        redirect: 'manual',
        headers: { cookie: jar.header(url.pathname) },
      });
      jar.store(res);
      await res.arrayBuffer();
      const next = res.headers.get('location');
      if (!next) return { paths, left: undefined };
      url = new URL(next, url);
    }
    throw new Error('too many redirects');
  };

  /** Signs in on a fresh browser and follows the redirects after the password: the client's callback, or a page. */
  const signIn = async (client: { clientId: string; redirectUri: string }, username: string, extra = {}) => {
    const signin = await startSignIn(server, client, {}, extra);
    const posted = await postLogin(server, signin, username, PASSWORD);
    assert.equal(posted.status, 303, posted.html.slice(0, 200));
    const location = posted.headers.get('location') as string;
    assert.match(new URL(location, server.url).pathname, /^\/auth\//, 'the login POST resumes the authorization');
    return { signin, location, reached: await follow(server, signin.jar, location) };
  };

  test('a first-party sign-in resumes straight to the client: one interaction, its consent recorded once', async () => {
    const user = await newUser();
    const signin = await startSignIn(server, web, {}, { scope: 'openid ledger:read', resource: API });
    const posted = await postLogin(server, signin, user.username, PASSWORD);
    assert.equal(posted.status, 303, posted.html.slice(0, 200));
    const location = posted.headers.get('location') as string;
    const visited = await hops(signin.jar, location);
    // no second interaction (the consent prompt's page, then a second resume) before the callback
    assert.deepEqual(
      visited.paths.map((p) => p.replace(/\/[^/]+$/, '/{uid}')),
      ['/auth/{uid}'],
      'the resume of the login is the last stop before the client',
    );
    assert.equal(visited.left?.origin, new URL(web.redirectUri).origin);
    const code = visited.left?.searchParams.get('code');
    assert.ok(code, 'a code');
    const tokens = await server.token(web.clientId, web.clientSecret, {
      grant_type: 'authorization_code',
      code,
      redirect_uri: web.redirectUri,
      code_verifier: signin.verifier,
      resource: API,
    });
    assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
    assert.ok(typeof tokens.body.id_token === 'string', 'an ID token');
    // the grant holds what was asked for (ledger:read), not the API's other scope the client may ask for
    const access = decodeJwt(tokens.body.access_token as string);
    assert.equal(access.aud, API);
    assert.equal(access.scope, 'ledger:read');
    assert.equal(access.sub, user.id);

    const events = await waitForEvents<Event>(
      server,
      { type: 'consent.granted', client_id: web.clientId, limit: '100' },
      (e) => e.some((x) => x.actor === user.id),
    );
    const mine = events.filter((e) => e.actor === user.id);
    assert.equal(mine.length, 1, 'one consent.granted for the sign-in');
    assert.equal(mine[0]?.details.first_party, true);
  });

  test('a signed-in browser asking again for a first-party client gets a code without a page', async () => {
    const user = await newUser();
    const first = await signIn(web, user.username);
    assert.ok(first.reached.location?.searchParams.get('code'));
    // the same browser (its session cookie), a new authorization request asking for more
    const params = new URLSearchParams({
      response_type: 'code',
      client_id: web.clientId,
      redirect_uri: web.redirectUri,
      scope: 'openid ledger:read',
      resource: API,
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256',
      state: 'again',
    });
    const again = await follow(server, first.signin.jar, `/auth?${params}`);
    assert.ok(again.location?.searchParams.get('code'), `a code, not ${again.url}: ${again.html.slice(0, 200)}`);
  });

  test('a client that is not first-party still shows the consent page after the password', async () => {
    const other = await registerWebClient(server);
    const user = await newUser();
    const { reached } = await signIn(other, user.username);
    assert.equal(reached.location, undefined, 'no redirect to the client before consent');
    assert.match(reached.html, /name="decision" value="allow"/);
  });

  test('prompt=consent for a first-party client still reaches the client (the consent prompt is answered for it)', async () => {
    const user = await newUser();
    const { reached } = await signIn(web, user.username, { prompt: 'consent' });
    assert.ok(reached.location?.searchParams.get('code'), `a code, not ${reached.url}: ${reached.html.slice(0, 200)}`);
    const events = await waitForEvents<Event>(
      server,
      { type: 'consent.granted', client_id: web.clientId, limit: '100' },
      (e) => e.some((x) => x.actor === user.id),
    );
    assert.equal(events.filter((e) => e.actor === user.id).length, 1, 'one consent.granted, from the consent prompt');
  });

  test("regression: a sign-in moved the user's ETag, so an admin's If-Match write after it failed as stale", async () => {
    const username = randomName('etag');
    const id = await createUser(server, username, PASSWORD);
    const before = await server.admin<{ last_sign_in_at: string | null }>('GET', `/users/${id}`);
    assert.equal(before.body.last_sign_in_at, null);
    const etag = before.headers.get('etag');
    assert.ok(etag);
    await signIn(web, username);
    const read = await server.admin<{ last_sign_in_at: string | null }>('GET', `/users/${id}`);
    assert.ok(read.body.last_sign_in_at, 'the sign-in is recorded');
    assert.equal(read.headers.get('etag'), etag, 'the ETag an admin holds stays valid');
  });
});
