import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { AdminEvent as Event } from '../helpers/form-signin.ts';
import {
  type CookieJar,
  createUser,
  follow,
  type Interaction,
  registerWebClient,
  startSignIn,
  waitForEvents,
} from '../helpers/form-signin.ts';
import { randomName, startTestServer, type TestServer } from '../helpers/server.ts';
import { SoftAuthenticator } from '../helpers/soft-authenticator.ts';

const PASSWORD = 'correct horse battery staple';

/** The page headers every HTML answer must carry (DESIGN §6). */
function assertPageHeaders(res: { headers: Headers }, what: string) {
  const csp = res.headers.get('content-security-policy') ?? '';
  assert.match(csp, /frame-ancestors 'none'/, `${what}: frame-ancestors`);
  assert.match(csp, /default-src 'none'/, `${what}: a strict CSP`);
  assert.equal(res.headers.get('x-frame-options'), 'DENY', `${what}: X-Frame-Options`);
  assert.equal(res.headers.get('x-content-type-options'), 'nosniff', `${what}: nosniff`);
}

const form = (server: TestServer, i: Interaction, path: string, fields: Record<string, string>, accept = 'text/html') =>
  fetch(`${server.url}${path}`, {
    method: 'POST',
    redirect: 'manual',
    headers: {
      cookie: i.jar.header(path),
      'content-type': 'application/x-www-form-urlencoded',
      accept,
    },
    body: new URLSearchParams(fields),
  });

const postJson = async (server: TestServer, jar: CookieJar, path: string, body: unknown) => {
  const res = await fetch(`${server.url}${path}`, {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie: jar.header(path), 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  jar.store(res);
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
};

const getJson = async (server: TestServer, jar: CookieJar, path: string) => {
  const res = await fetch(`${server.url}${path}`, { headers: { cookie: jar.header(path) } });
  jar.store(res);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> & { challenge: string } };
};

describe('restructure review: the sign-in pages', () => {
  let server: TestServer;
  let web: Awaited<ReturnType<typeof registerWebClient>>;

  before(async () => {
    server = await startTestServer({ env: { SIGNIN_DELAY_MS: '1' } });
    web = await registerWebClient(server);
  });
  after(() => server?.close());

  test('every refusal page of the interaction forms (CSRF, expired, unreadable, clean-input) carries the page headers', async () => {
    const i = await startSignIn(server, web);
    const other = await startSignIn(server, web);
    // CSRF token of another interaction
    const forged = await form(server, i, `/interaction/${i.uid}/login`, {
      csrf: other.csrf,
      username: 'x',
      password: 'y',
    });
    assert.equal(forged.status, 403);
    assertPageHeaders(forged, 'csrf page');
    // no token at all, on each form
    for (const path of [
      `/interaction/${i.uid}/login`,
      `/interaction/${i.uid}/confirm`,
      `/interaction/${i.uid}/passkey/skip`,
    ]) {
      const res = await form(server, i, path, { username: 'x', password: 'y', decision: 'allow' });
      assert.equal(res.status, 403, path);
      assertPageHeaders(res, path);
    }
    // another interaction's uid with its own token, from this browser
    const stale = await form(server, i, `/interaction/${other.uid}/login`, {
      csrf: other.csrf,
      username: 'x',
      password: 'y',
    });
    assert.equal(stale.status, 400);
    assertPageHeaders(stale, 'expired page');
    // unreadable form
    const json = await fetch(`${server.url}/interaction/${i.uid}/login`, {
      method: 'POST',
      headers: {
        cookie: i.jar.header(`/interaction/${i.uid}/login`),
        'content-type': 'text/plain',
        accept: 'text/html',
      },
      body: 'csrf=x',
    });
    assert.equal(json.status, 415);
    assertPageHeaders(json, 'unreadable form');
    // clean-input
    const nul = await fetch(`${server.url}/interaction/${i.uid}?x=%00`, { headers: { accept: 'text/html' } });
    assert.equal(nul.status, 400);
    assertPageHeaders(nul, 'clean-input page');
    const bad = await fetch(`${server.url}/interaction/${i.uid}/login`, {
      method: 'POST',
      headers: {
        cookie: i.jar.header(`/interaction/${i.uid}/login`),
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'text/html',
      },
      body: `csrf=${i.csrf}&username=%00&password=x`,
    });
    assert.equal(bad.status, 400);
    assertPageHeaders(bad, 'clean-input body');
  });
});

/** POSTs the login form with `passkey_capable`, as the page's script does on a browser that can make passkeys. */
const passwordPost = (server: TestServer, i: Interaction, username: string, password: string, capable = true) =>
  form(server, i, `/interaction/${i.uid}/login`, {
    csrf: i.csrf,
    username,
    password,
    ...(capable ? { passkey_capable: '1' } : {}),
  }).then((res) => {
    i.jar.store(res);
    return res;
  });

describe('restructure review: passkeys in the sign-in flow', () => {
  let server: TestServer;
  let web: Awaited<ReturnType<typeof registerWebClient>>;
  let strict: Awaited<ReturnType<typeof registerWebClient>>;

  before(async () => {
    server = await startTestServer({ env: { SIGNIN_DELAY_MS: '1' } });
    web = await registerWebClient(server, { first_party: true });
    strict = await registerWebClient(server, { first_party: true, require_mfa: true });
  });
  after(() => server?.close());

  test("the passkey offer after a password, CSRF on its ceremony, and a second factor bound to the password's account", async () => {
    const username = randomName('offer');
    const id = await createUser(server, username, PASSWORD);
    const device = new SoftAuthenticator(server.issuer);
    const i = await startSignIn(server, web);
    const res = await passwordPost(server, i, username, PASSWORD);
    assert.equal(res.status, 303);
    const page = await follow(server, i.jar, res.headers.get('location') as string);
    assert.equal(page.status, 200);
    const options = await postJson(server, i.jar, `/interaction/${i.uid}/passkey/register/options`, { csrf: i.csrf });
    assert.equal(options.status, 200, JSON.stringify(options.body));
    const noCsrf = await postJson(server, i.jar, `/interaction/${i.uid}/passkey/register/verify`, {
      csrf: 'x',
      response: device.register(options.body as never),
    });
    assert.equal(noCsrf.status, 403);
    const options2 = await postJson(server, i.jar, `/interaction/${i.uid}/passkey/register/options`, { csrf: i.csrf });
    const added = await postJson(server, i.jar, `/interaction/${i.uid}/passkey/register/verify`, {
      csrf: i.csrf,
      response: device.register(options2.body as never),
    });
    assert.equal(added.status, 200, JSON.stringify(added.body));
    const done = await follow(server, i.jar, added.body.redirect as string);
    assert.ok(done.location?.searchParams.get('code'), 'signed in');
    const events = await waitForEvents<Event>(server, { subject: id }, (e) =>
      e.some((x) => x.type === 'passkey.added'),
    );
    assert.ok(events.some((e) => e.type === 'signin.succeeded' && e.details.method === 'password'));

    // MFA: another user's passkey at the second-factor step
    const other = randomName('other');
    await createUser(server, other, PASSWORD);
    const otherDevice = new SoftAuthenticator(server.issuer);
    {
      const j = await startSignIn(server, web);
      await passwordPost(server, j, other, PASSWORD);
      const o = await postJson(server, j.jar, `/interaction/${j.uid}/passkey/register/options`, { csrf: j.csrf });
      const a = await postJson(server, j.jar, `/interaction/${j.uid}/passkey/register/verify`, {
        csrf: j.csrf,
        response: otherDevice.register(o.body as never),
      });
      assert.equal(a.status, 200);
    }
    const m = await startSignIn(server, strict);
    // passwordless options fetched before the password
    const early = await getJson(server, m.jar, `/interaction/${m.uid}/passkey/options`);
    assert.equal(early.status, 200);
    const pw = await passwordPost(server, m, username, PASSWORD);
    assert.equal(pw.status, 303);
    const stepPage = await follow(server, m.jar, pw.headers.get('location') as string);
    assert.equal(stepPage.status, 200);
    const wrong = await postJson(server, m.jar, `/interaction/${m.uid}/passkey/verify`, {
      csrf: m.csrf,
      response: otherDevice.authenticate(early.body),
    });
    assert.equal(wrong.status, 400, JSON.stringify(wrong.body));
    const opts = await getJson(server, m.jar, `/interaction/${m.uid}/passkey/options`);
    const ok = await postJson(server, m.jar, `/interaction/${m.uid}/passkey/verify`, {
      csrf: m.csrf,
      response: device.authenticate(opts.body, device.credentials[1]),
    });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
  });

  test('a refused consent answers 303 and is recorded with its client', async () => {
    const thirdParty = await registerWebClient(server);
    const username = randomName('consent');
    const id = await createUser(server, username, PASSWORD);
    const i = await startSignIn(server, thirdParty);
    const res = await passwordPost(server, i, username, PASSWORD, false);
    assert.equal(res.status, 303);
    const page = await follow(server, i.jar, res.headers.get('location') as string);
    assert.match(page.html, /name="decision"/);
    const uid = /\/interaction\/([^/]+)\/confirm/.exec(page.html)?.[1] as string;
    const csrf = /name="csrf" value="([^"]+)"/.exec(page.html)?.[1] as string;
    const deny = await form(server, { ...i, uid, csrf }, `/interaction/${uid}/confirm`, { csrf, decision: 'deny' });
    assert.equal(deny.status, 303);
    const events = await waitForEvents<Event>(server, { subject: id }, (e) =>
      e.some((x) => x.type === 'consent.denied'),
    );
    const denied = events.find((e) => e.type === 'consent.denied');
    assert.equal(denied?.client_id, thirdParty.clientId);
  });
});

describe('restructure review: the admin audit', () => {
  let server: TestServer;

  before(async () => {
    server = await startTestServer();
  });
  after(() => server?.close());

  test('every admin change refused for want of scope (403) is recorded under its declared type', async () => {
    const weak = await server.adminToken('events:read');
    const id = '00000000-0000-4000-8000-000000000000';
    const routes: [string, string, string][] = [
      ['POST', '/clients', 'client.created'],
      ['PATCH', `/clients/${id}`, 'client.updated'],
      ['DELETE', `/clients/${id}`, 'client.deleted'],
      ['POST', `/clients/${id}/secret`, 'client.secret_rotated'],
      ['POST', '/resources', 'resource.created'],
      ['PATCH', `/resources/${id}`, 'resource.updated'],
      ['DELETE', `/resources/${id}`, 'resource.deleted'],
      ['POST', '/roles', 'role.created'],
      ['PATCH', `/roles/${id}`, 'role.updated'],
      ['DELETE', `/roles/${id}`, 'role.deleted'],
      ['POST', '/users', 'user.created'],
      ['PATCH', `/users/${id}`, 'user.updated'],
      ['DELETE', `/users/${id}`, 'user.deleted'],
      ['POST', `/users/${id}/unlock`, 'user.unlocked'],
      ['DELETE', `/users/${id}/passkeys/${id}`, 'passkey.removed'],
      ['POST', '/keys/rotate', 'key.rotated'],
      ['POST', '/initial-access-tokens', 'initial_access_token.created'],
    ];
    for (const [method, path, type] of routes) {
      const res = await server.admin(method, path, method === 'DELETE' ? undefined : {}, weak);
      assert.equal(res.status, 403, `${method} ${path}`);
      const events = await waitForEvents<Event>(server, { type }, (e) => e.some((x) => x.outcome === 'failure'));
      const refused = events.find((e) => e.outcome === 'failure');
      assert.equal(refused?.details.error, 'insufficient_scope', `${method} ${path} recorded as ${type}`);
    }
  });
});
