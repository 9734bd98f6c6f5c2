import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { AdminEvent as Event } from '../helpers/form-signin.ts';
import {
  createUser,
  follow,
  metricValue,
  postLogin,
  registerWebClient,
  startSignIn,
  waitForEvents,
} from '../helpers/form-signin.ts';
import { registerApi, registerService } from '../helpers/oidc.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const API = 'https://inventory.example';
const PASSWORD = 'correct horse battery staple';
const WRONG_PASSWORD = 'a wrong password guess 42';
const basic = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

describe('security event log', () => {
  let server: TestServer;
  /** every secret the test handles: none may appear in any event */
  const secrets: string[] = [PASSWORD, WRONG_PASSWORD];
  let userId: string;
  let web: { clientId: string; clientSecret: string; redirectUri: string };
  const startedAt = new Date(Date.now() - 1000).toISOString();

  const tokenCall = async (auth: string, params: Record<string, string>) => {
    const res = await fetch(`${server.url}/token`, {
      method: 'POST',
      headers: {
        authorization: auth,
        'content-type': 'application/x-www-form-urlencoded',
        'user-agent': 'events-test/1.0',
      },
      body: new URLSearchParams(params),
    });
    return { status: res.status, body: (await res.json()) as Record<string, string> };
  };

  before(async () => {
    server = await startTestServer();
    secrets.push(server.env.ADMIN_CLIENT_SECRET as string, await server.adminToken());
    userId = await createUser(server, 'event-user', PASSWORD);
    web = await registerWebClient(server);
    secrets.push(web.clientSecret);
  });
  after(() => server?.close());

  test('sign-in, consent and the tokens of a browser flow are recorded', async () => {
    const signin = await startSignIn(
      server,
      web,
      { 'user-agent': 'events-test/1.0' },
      {
        scope: 'openid offline_access',
        prompt: 'consent',
      },
    );
    const failed = await postLogin(server, signin, 'event-user', WRONG_PASSWORD, { 'user-agent': 'events-test/1.0' });
    assert.equal(failed.status, 200);
    const ok = await postLogin(server, signin, 'event-user', PASSWORD, { 'user-agent': 'events-test/1.0' });
    assert.equal(ok.status, 303);

    // the consent page, then allow
    const consent = await follow(server, signin.jar, ok.headers.get('location') as string);
    const uid = /\/interaction\/([^/]+)\/confirm/.exec(consent.html)?.[1];
    const csrf = /name="csrf" value="([^"]+)"/.exec(consent.html)?.[1];
    assert.ok(uid && csrf, 'a consent page');
    const allowed = await fetch(`${server.url}/interaction/${uid}/confirm`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: signin.jar.header(), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrf, decision: 'allow' }),
    });
    signin.jar.store(allowed);
    const callback = await follow(server, signin.jar, allowed.headers.get('location') as string);
    const code = callback.location?.searchParams.get('code');
    assert.ok(code, 'a code at the callback');
    secrets.push(code);

    const auth = basic(web.clientId, web.clientSecret);
    const issued = await tokenCall(auth, {
      grant_type: 'authorization_code',
      code,
      redirect_uri: web.redirectUri,
      code_verifier: signin.verifier,
    });
    assert.equal(issued.status, 200, JSON.stringify(issued.body));
    const refresh = issued.body.refresh_token as string;
    secrets.push(issued.body.access_token as string, refresh, issued.body.id_token as string);

    const refreshed = await tokenCall(auth, { grant_type: 'refresh_token', refresh_token: refresh });
    assert.equal(refreshed.status, 200);
    secrets.push(refreshed.body.access_token as string, refreshed.body.refresh_token as string);
    // reusing the rotated refresh token revokes the grant (RFC 9700 §4.14.2) and is recorded
    const reused = await tokenCall(auth, { grant_type: 'refresh_token', refresh_token: refresh });
    assert.equal(reused.body.error, 'invalid_grant');

    const revoked = await fetch(`${server.url}/token/revocation`, {
      method: 'POST',
      headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: refreshed.body.access_token as string }),
    });
    assert.equal(revoked.status, 200);

    const wanted = [
      'signin.failed',
      'signin.succeeded',
      'consent.granted',
      'token.issued',
      'token.refreshed',
      'token.reuse_detected',
      'token.revoked',
    ];
    const events = await waitForEvents<Event>(server, { client_id: web.clientId, limit: '100' }, (e) =>
      wanted.every((t) => e.some((x) => x.type === t)),
    );
    const byType = (type: string) => events.find((e) => e.type === type);
    for (const type of wanted) assert.ok(byType(type), `${type} recorded`);

    const failure = byType('signin.failed');
    assert.equal(failure?.outcome, 'failure');
    assert.equal(failure?.details.reason, 'invalid_credentials');
    assert.equal(failure?.subject, userId);
    assert.ok(failure?.ip, 'with the address');
    assert.equal(failure?.user_agent, 'events-test/1.0');
    assert.equal(byType('signin.succeeded')?.subject, userId);
    assert.equal(byType('consent.granted')?.actor, userId);
    assert.equal(byType('token.issued')?.details.grant_type, 'authorization_code');
    assert.equal(byType('token.issued')?.subject, userId);
    assert.equal(byType('token.refreshed')?.details.grant_type, 'refresh_token');
    assert.equal(byType('token.reuse_detected')?.outcome, 'failure');
    assert.equal(byType('token.reuse_detected')?.subject, userId);
    assert.equal(byType('token.revoked')?.client_id, web.clientId);

    assert.ok((await metricValue(server, 'idp_signins_total', { outcome: 'success', method: 'password' })) >= 1);
    assert.ok((await metricValue(server, 'idp_signins_total', { outcome: 'failure', method: 'password' })) >= 1);
    assert.ok(
      (await metricValue(server, 'idp_tokens_issued_total', {
        grant_type: 'authorization_code',
        client_id: web.clientId,
      })) >= 1,
    );
  });

  test('consent refused is recorded', async () => {
    const signin = await startSignIn(server, web, {}, { prompt: 'consent' });
    const ok = await postLogin(server, signin, 'event-user', PASSWORD);
    const consent = await follow(server, signin.jar, ok.headers.get('location') as string);
    const uid = /\/interaction\/([^/]+)\/confirm/.exec(consent.html)?.[1];
    const csrf = /name="csrf" value="([^"]+)"/.exec(consent.html)?.[1];
    assert.ok(uid && csrf);
    await fetch(`${server.url}/interaction/${uid}/confirm`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: signin.jar.header(), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrf, decision: 'deny' }),
    });
    const denied = await waitForEvents<Event>(server, { type: 'consent.denied' });
    assert.equal(denied[0]?.subject, userId);
    assert.equal(denied[0]?.client_id, web.clientId);
  });

  test('admin changes are recorded with the admin who made them, naming fields but not values', async () => {
    const api = await registerApi(server, API, ['stock:read']);
    const service = await registerService(server, { [API]: ['stock:read'] });
    secrets.push(service.client_secret);
    const rotated = await server.admin<{ client_secret: string }>('POST', `/clients/${service.client_id}/secret`);
    secrets.push(rotated.body.client_secret);
    assert.equal(
      (await server.admin('PATCH', `/clients/${service.client_id}`, { client_name: 'renamed' })).status,
      200,
    );
    assert.equal((await server.admin('PATCH', `/resources/${api.id}`, { name: 'Stock' })).status, 200);
    const role = await server.admin<{ id: string }>('POST', '/roles', {
      name: 'stock-reader',
      permissions: [{ resource: API, scope: 'stock:read' }],
    });
    assert.equal(role.status, 201, JSON.stringify(role.body));
    const user = await server.admin<{ id: string }>('POST', '/users', { username: 'temp-user', password: PASSWORD });
    assert.equal((await server.admin('PATCH', `/users/${user.body.id}`, { password: `${PASSWORD} 2` })).status, 200);
    secrets.push(`${PASSWORD} 2`);
    assert.equal((await server.admin('DELETE', `/users/${user.body.id}`)).status, 204);
    assert.equal((await server.admin('DELETE', `/roles/${role.body.id}`)).status, 204);
    assert.equal((await server.admin('DELETE', `/clients/${service.client_id}`)).status, 204);
    const issued = await tokenCall(
      basic(server.env.ADMIN_CLIENT_ID as string, server.env.ADMIN_CLIENT_SECRET as string),
      {
        grant_type: 'client_credentials',
        resource: `${server.issuer}/admin`,
        scope: 'events:read',
      },
    );
    secrets.push(issued.body.access_token as string);

    const expected: [string, string][] = [
      ['resource.created', api.id],
      ['resource.updated', api.id],
      ['client.created', service.client_id],
      ['client.secret_rotated', service.client_id],
      ['client.updated', service.client_id],
      ['client.deleted', service.client_id],
      ['role.created', role.body.id],
      ['role.deleted', role.body.id],
      ['user.created', user.body.id],
      ['user.updated', user.body.id],
      ['user.deleted', user.body.id],
    ];
    const events = await waitForEvents<Event>(server, { since: startedAt, limit: '200' }, (e) =>
      expected.every(([type, subject]) => e.some((x) => x.type === type && x.subject === subject)),
    );
    for (const [type, subject] of expected) {
      const event = events.find((x) => x.type === type && x.subject === subject);
      assert.ok(event, `${type} of ${subject}`);
      assert.equal(event.actor, 'test-admin', `${type}: the admin token's subject`);
      assert.equal(event.client_id, 'test-admin');
    }
    const passwordChange = events.find((x) => x.type === 'user.updated');
    assert.deepEqual(passwordChange?.details.fields, ['password'], 'names the field, never its value');
    const adminToken = events.find((x) => x.type === 'token.issued' && x.client_id === 'test-admin');
    assert.equal(adminToken?.details.grant_type, 'client_credentials');
  });

  test('no event holds a secret, a token, a code or a hash', async () => {
    const res = await server.admin<{ data: Event[] }>('GET', '/events?limit=200');
    assert.equal(res.status, 200);
    assert.ok(res.body.data.length > 20);
    const text = JSON.stringify(res.body.data);
    for (const secret of secrets) {
      assert.ok(secret && secret.length >= 8, 'a real secret to look for');
      assert.ok(!text.includes(secret), `an event holds a secret (${secret.slice(0, 6)}...)`);
    }
    assert.ok(!text.includes('$argon2'), 'no password hash');
  });

  test('filters, newest first, and a cursor through every page', async () => {
    const all = (await server.admin<{ data: Event[] }>('GET', '/events?limit=200')).body.data;
    for (let i = 1; i < all.length; i++) {
      const [a, b] = [all[i - 1] as Event, all[i] as Event];
      assert.ok(a.time > b.time || (a.time === b.time && BigInt(a.id) > BigInt(b.id)), 'newest first');
    }
    // walk in pages of 3: the same events in the same order, no duplicates
    const walked: string[] = [];
    let after: string | undefined;
    do {
      const page = await server.admin<{ data: Event[]; next?: string }>(
        'GET',
        `/events?limit=3${after ? `&after=${after}` : ''}`,
      );
      assert.equal(page.status, 200);
      walked.push(...page.body.data.map((e) => e.id));
      after = page.body.next;
    } while (after);
    assert.deepEqual(
      walked.slice(0, all.length),
      all.map((e) => e.id),
    );

    const family = (await server.admin<{ data: Event[] }>('GET', '/events?type=client.*&limit=200')).body.data;
    assert.ok(family.length >= 4 && family.every((e) => e.type.startsWith('client.')));
    const bySubject = (await server.admin<{ data: Event[] }>('GET', `/events?subject=${userId}&limit=200`)).body.data;
    assert.ok(bySubject.length >= 3 && bySubject.every((e) => e.subject === userId));
    const future = new Date(Date.now() + 3_600_000).toISOString();
    assert.equal((await server.admin<{ data: Event[] }>('GET', `/events?since=${future}`)).body.data.length, 0);
    const beforeStart = (await server.admin<{ data: Event[] }>('GET', `/events?until=${startedAt}`)).body.data;
    assert.equal(beforeStart.length, 0);
  });

  test('bad queries are 400 naming the parameter; the scope events:read is needed', async () => {
    for (const query of [
      'after=bm9wZQ',
      'type=DROP%20TABLE',
      'limit=1000',
      'since=yesterday',
      'unknown=1',
      'type=a&type=b',
    ]) {
      const res = await server.admin<{ error: string; error_description: string }>('GET', `/events?${query}`);
      assert.equal(res.status, 400, query);
      assert.equal(res.body.error, 'invalid_request');
    }
    const token = await server.adminToken('clients:read');
    assert.equal((await server.admin('GET', '/events', undefined, token)).status, 403);
    const reader = await server.adminToken('events:read');
    assert.equal((await server.admin('GET', '/events', undefined, reader)).status, 200);
  });
});
