import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import {
  createUser,
  metricValue,
  postLogin,
  registerWebClient,
  startSignIn,
  waitForEvents,
} from '../helpers/form-signin.ts';
import { registerApi, registerService } from '../helpers/oidc.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const API = 'https://orders.example';
const PASSWORD = 'correct horse battery staple';
const WINDOW = 2;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const basic = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

// Each suite runs once with counters in memory and once in Redis (several instances share them there).
for (const store of ['memory', 'redis'] as const) {
  describe(`rate limits (${store})`, () => {
    let server: TestServer;
    let service: { client_id: string; client_secret: string };
    let other: { client_id: string; client_secret: string };

    const tokenRequest = (auth: { id: string; secret: string }, ip: string, viaBody = false) =>
      fetch(`${server.url}/token`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          'x-forwarded-for': ip,
          ...(viaBody ? {} : { authorization: basic(auth.id, auth.secret) }),
        },
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          resource: API,
          ...(viaBody ? { client_id: auth.id, client_secret: auth.secret } : {}),
        }),
      });

    before(async () => {
      server = await startTestServer({
        env: {
          TRUST_PROXY: 'true',
          RATE_LIMIT_WINDOW: String(WINDOW),
          RATE_LIMIT_TOKEN: '3',
          RATE_LIMIT_INTROSPECTION: '2',
          RATE_LIMIT_CLIENT_AUTH_FAILURES: '3',
          RATE_LIMIT_SIGNIN_IP: '3',
          RATE_LIMIT_SIGNIN_ACCOUNT: '4',
          ...(store === 'redis' ? { REDIS_URL: 'redis://127.0.0.1:6379' } : {}),
        },
      });
      await registerApi(server, API, ['orders:read']);
      service = await registerService(server, { [API]: ['orders:read'] });
      other = await registerService(
        server,
        { [API]: ['orders:read'] },
        { token_endpoint_auth_method: 'client_secret_post' },
      );
    });
    after(() => server?.close());

    test('the token endpoint limits each authenticated client, answers 429 with Retry-After, and recovers', async () => {
      const me = { id: service.client_id, secret: service.client_secret };
      await sleep(WINDOW * 1000); // a fresh window: setup used the admin client, not this one
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) statuses.push((await tokenRequest(me, '10.1.0.1')).status);
      assert.deepEqual(statuses, [200, 200, 200, 429]);
      if (store === 'redis') {
        // the counters really are in Redis, where other instances see them
        const redis = new Redis('redis://127.0.0.1:6379');
        try {
          assert.ok((await redis.keys('idp:*:token*')).length > 0, 'no token counter in Redis');
        } finally {
          redis.disconnect();
        }
      }

      const refused = await tokenRequest(me, '10.1.0.2');
      assert.equal(refused.status, 429, 'the limit is per client, not per address');
      const retryAfter = Number(refused.headers.get('retry-after'));
      assert.ok(retryAfter >= 1 && retryAfter <= WINDOW, `Retry-After ${retryAfter}`);
      const body = (await refused.json()) as { error: string; error_description: string };
      assert.equal(body.error, 'too_many_requests');
      assert.match(body.error_description, /retry after/);

      // another client behind the same address is not throttled with it
      assert.equal(
        (await tokenRequest({ id: other.client_id, secret: other.client_secret }, '10.1.0.1', true)).status,
        200,
      );

      await sleep(retryAfter * 1000 + 100);
      assert.equal((await tokenRequest(me, '10.1.0.1')).status, 200, 'recovers once the window is over');

      const trips = await waitForEvents<{ details: { limit: string }; client_id: string }>(server, {
        type: 'ratelimit.tripped',
        client_id: service.client_id,
      });
      assert.equal(trips[0]?.details.limit, 'token');
      assert.ok((await metricValue(server, 'idp_rate_limited_total', { limit: 'token' })) >= 2);
    });

    test('a client authenticating in the body is limited too', async () => {
      const them = { id: other.client_id, secret: other.client_secret };
      await sleep(WINDOW * 1000);
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) statuses.push((await tokenRequest(them, '10.2.0.1', true)).status);
      assert.deepEqual(statuses.slice(0, 3), [200, 200, 200]);
      assert.deepEqual(statuses.slice(3), [429, 429]);
    });

    test('guessing a client secret does not use up that client’s allowance, and is limited per address', async () => {
      const me = { id: service.client_id, secret: service.client_secret };
      await sleep(WINDOW * 1000);
      const wrong = { id: service.client_id, secret: 'not-the-secret' };
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) statuses.push((await tokenRequest(wrong, '10.3.0.1')).status);
      assert.deepEqual(statuses, [401, 401, 401, 429]);
      // the attacker's address is refused even with the right secret; the real client elsewhere is not
      assert.equal((await tokenRequest(me, '10.3.0.1')).status, 429);
      assert.equal((await tokenRequest(me, '10.3.0.2')).status, 200);
      // identical events written together are one row with a count
      const total = (e: { details: { count?: number } }[]) => e.reduce((n, x) => n + (x.details.count ?? 1), 0);
      const failures = await waitForEvents<{ ip: string; details: { count?: number } }>(
        server,
        { type: 'client.auth_failed', client_id: service.client_id },
        (e) => total(e) >= 3,
      );
      assert.equal(total(failures), 3);
      assert.equal(failures[0]?.ip, '10.3.0.1');
    });

    test('introspection is limited per client', async () => {
      await sleep(WINDOW * 1000);
      const introspect = () =>
        fetch(`${server.url}/token/introspection`, {
          method: 'POST',
          headers: {
            authorization: basic(service.client_id, service.client_secret),
            'content-type': 'application/x-www-form-urlencoded',
            'x-forwarded-for': '10.4.0.1',
          },
          body: new URLSearchParams({ token: 'opaque-unknown-token' }),
        });
      const statuses = [(await introspect()).status, (await introspect()).status, (await introspect()).status];
      assert.deepEqual(statuses, [200, 200, 429]);
    });

    if (store === 'redis') {
      test('a token costs one Redis round trip: the address’s failure limit and the client’s limit in one call', async () => {
        await sleep(WINDOW * 1000);
        const me = { id: service.client_id, secret: service.client_secret };
        // the first call on a Redis that does not know the script yet loads it (EVALSHA, then EVAL)
        assert.equal((await tokenRequest(me, '10.9.0.9')).status, 200);
        // this app's counters, named by the hash of its issuer (rate-limits.ts)
        const namespace = `idp:${createHash('sha256').update(server.issuer).digest('hex').slice(0, 12)}:`;
        const marker = `${namespace}end-of-request`;
        const watcher = new Redis('redis://127.0.0.1:6379');
        const monitor = await watcher.monitor();
        const probe = new Redis('redis://127.0.0.1:6379');
        try {
          const calls: string[][] = [];
          let sawMarker: () => void = () => {};
          const markerSeen = new Promise<void>((resolve) => {
            sawMarker = resolve;
          });
          monitor.on('monitor', (_time: string, args: string[], source: string) => {
            if (args.includes(marker)) sawMarker();
            // commands run inside a script are reported too, with source "lua": not round trips
            else if (source !== 'lua' && args.some((a) => a.startsWith(namespace))) calls.push(args);
          });
          assert.equal((await tokenRequest(me, '10.9.0.1')).status, 200);
          assert.equal((await tokenRequest(me, '10.9.0.2')).status, 200);
          await probe.get(marker);
          await markerSeen;
          assert.equal(calls.length, 2, `one call per token, got ${JSON.stringify(calls)}`);
          // the refused keep their protection: the failure limit still trips in that one call
          // (guessed under another name: this client has used up its allowance of the window)
          const wrong = { id: 'no-such-client', secret: 'not-the-secret' };
          for (let i = 0; i < 3; i++) assert.equal((await tokenRequest(wrong, '10.9.0.3')).status, 401);
          assert.equal((await tokenRequest(me, '10.9.0.3')).status, 429);
        } finally {
          probe.disconnect();
          monitor.disconnect();
          watcher.disconnect();
        }
      });
    }

    test('sign-in is limited per address and per account, with a friendly page', async () => {
      const web = await registerWebClient(server);
      const username = `rl-${store}`;
      await createUser(server, username, PASSWORD);
      const signin = await startSignIn(server, web);
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) {
        statuses.push(
          (await postLogin(server, signin, username, 'wrong password', { 'x-forwarded-for': '10.6.0.1' })).status,
        );
      }
      assert.deepEqual(statuses, [200, 200, 200, 429], 'per address: 3 attempts');
      const page = await postLogin(server, signin, username, PASSWORD, { 'x-forwarded-for': '10.6.0.1' });
      assert.equal(page.status, 429);
      assert.match(page.headers.get('content-type') ?? '', /text\/html/);
      assert.match(page.html, /Too many/);
      assert.ok(Number(page.headers.get('retry-after')) >= 1);

      // per account: 4 failures from anywhere, each address counting for at most a fifth of it
      // (one here), so that one address cannot keep the real user out (10.6.0.1 counted once)
      for (const ip of ['10.6.0.2', '10.6.0.4', '10.6.0.5']) {
        const fromElsewhere = await postLogin(server, signin, username, 'wrong password', { 'x-forwarded-for': ip });
        assert.equal(fromElsewhere.status, 200);
      }
      const overAccount = await postLogin(server, signin, username, PASSWORD, { 'x-forwarded-for': '10.6.0.3' });
      assert.equal(overAccount.status, 429);

      await sleep(WINDOW * 1000 + 100);
      const ok = await postLogin(server, signin, username, PASSWORD, { 'x-forwarded-for': '10.6.0.1' });
      assert.equal(ok.status, 303, 'recovers: the right password signs in');
    });
  });
}

describe('rate limit of the admin API', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({
      env: { TRUST_PROXY: 'true', RATE_LIMIT_WINDOW: String(WINDOW), RATE_LIMIT_ADMIN: '4' },
    });
  });
  after(() => server?.close());

  test('the admin API is limited per address, before authentication', async () => {
    const call = (ip: string) =>
      fetch(`${server.url}/admin/clients`, { headers: { 'x-forwarded-for': ip, authorization: 'Bearer nope' } });
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await call('10.5.0.1')).status);
    assert.deepEqual(statuses, [401, 401, 401, 401, 429]);
    const refused = await call('10.5.0.1');
    assert.equal(refused.status, 429);
    assert.ok(Number(refused.headers.get('retry-after')) >= 1);
    assert.equal(((await refused.json()) as { error: string }).error, 'too_many_requests');
    assert.equal((await call('10.5.0.2')).status, 401, 'another address is not affected');
    await sleep(WINDOW * 1000 + 100);
    assert.equal((await call('10.5.0.1')).status, 401, 'recovers');
  });
});
