import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { generateKeyPair, importJWK, type JWK, SignJWT } from 'jose';
import { httpAccessToken } from '../../src/resource-server/index.ts';
import { follow, postLogin, registerWebClient, startSignIn, waitForEvents } from '../helpers/form-signin.ts';
import { client, discover, registerApi, registerService, verifyAccessToken } from '../helpers/oidc.ts';
import { randomName, startTestServer, type TestServer } from '../helpers/server.ts';

const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const AT = 'urn:ietf:params:oauth:token-type:access_token';
const PASSWORD = 'correct horse battery staple';
/** the three services of the chain: A (the front), B (called by A), C (called by B) */
const A_API = 'https://a.example';
const B_API = 'https://b.example';
const C_API = 'https://c.example';

interface Service {
  client_id: string;
  client_secret: string;
}

/** The OAuth error of a refused exchange, from openid-client's error. */
async function refusal(promise: Promise<unknown>) {
  try {
    await promise;
  } catch (err) {
    const e = err as { error?: string; status?: number; error_description?: string };
    return { status: e.status, error: e.error, description: e.error_description };
  }
  assert.fail('expected the exchange to be refused');
}

describe('token exchange (RFC 8693) for call chains', () => {
  let server: TestServer;
  let web: Awaited<ReturnType<typeof registerWebClient>>;
  let a: Service;
  let b: Service;
  let userId: string;
  let username: string;
  const apis: Server[] = [];

  const exchange = async (svc: Service, params: Record<string, string>) =>
    client.genericGrantRequest(await discover(server, svc.client_id, svc.client_secret), GRANT, {
      subject_token_type: AT,
      ...params,
    });

  const newUser = async (roles = ['chain-user']) => {
    const name = randomName('chain');
    const res = await server.admin<{ id: string }>('POST', '/users', { username: name, password: PASSWORD, roles });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return { username: name, id: res.body.id };
  };

  /** a user's access token for A's API, through the code flow as A's front end would get it */
  const userToken = async (name = username) => {
    const signin = await startSignIn(server, web, {}, { scope: 'openid a:read', resource: A_API });
    const ok = await postLogin(server, signin, name, PASSWORD);
    assert.equal(ok.status, 303, ok.html.slice(0, 200));
    const callback = await follow(server, signin.jar, ok.headers.get('location') as string);
    const code = callback.location?.searchParams.get('code');
    assert.ok(code, 'a code');
    const tokens = await server.token(web.clientId, web.clientSecret, {
      grant_type: 'authorization_code',
      code,
      redirect_uri: web.redirectUri,
      code_verifier: signin.verifier,
      resource: A_API,
    });
    assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
    return tokens.body.access_token as string;
  };

  const exchanger = (
    allowedResources: Record<string, string[]>,
    tokenExchange: Record<string, unknown>,
    extra: Record<string, unknown> = {},
  ) => registerService(server, allowedResources, { grant_types: [GRANT], tokenExchange, ...extra });

  /** an API on node:http behind the resource-server middleware, answering with what it saw */
  const serve = async (audience: string, scopes: string[]) => {
    const authenticate = httpAccessToken({ issuer: server.issuer, audience, jwksUri: `${server.url}/jwks`, scopes });
    const api = createServer(async (req, res) => {
      const token = await authenticate(req, res);
      if (!token) return;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ sub: token.claims.sub, client_id: token.claims.client_id, act: token.claims.act }));
    });
    apis.push(api);
    await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(api.address() as AddressInfo).port}/`;
  };
  const call = async (url: string, token: string) => {
    const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  before(async () => {
    server = await startTestServer();
    await registerApi(server, A_API, ['a:read']);
    await registerApi(server, B_API, ['b:read', 'b:write', 'b:admin'], 3600);
    await registerApi(server, C_API, ['c:read', 'c:write'], 3600);
    const role = await server.admin('POST', '/roles', {
      name: 'chain-user',
      permissions: [
        { resource: A_API, scope: 'a:read' },
        { resource: B_API, scope: 'b:read' },
        { resource: B_API, scope: 'b:write' },
        { resource: C_API, scope: 'c:read' },
      ],
    });
    assert.equal(role.status, 201, JSON.stringify(role.body));
    web = await registerWebClient(server, { first_party: true, allowedResources: { [A_API]: ['a:read'] } });
    a = await exchanger({ [B_API]: ['b:read', 'b:write', 'b:admin'] }, { fromAudiences: [A_API] });
    b = await exchanger({ [C_API]: ['c:read', 'c:write'] }, { fromAudiences: [B_API] });
    ({ username, id: userId } = await newUser());
  });
  after(async () => {
    for (const api of apis) api.close();
    await server?.close();
  });

  test('discovery advertises the grant type', async () => {
    const meta = (await discover(server, a.client_id, a.client_secret)).serverMetadata();
    assert.ok(meta.grant_types_supported?.includes(GRANT), JSON.stringify(meta.grant_types_supported));
  });

  test('A → B → C: C sees the user as sub and who acted, nested; scopes narrowed by the roles and the client', async () => {
    const bUrl = await serve(B_API, ['b:read']);
    const cUrl = await serve(C_API, ['c:read']);
    const forA = await userToken();
    const subjectExp = (await verifyAccessToken(server, forA, A_API)).payload.exp as number;

    // A asks for more of B than the user's roles allow: b:admin is dropped
    const toB = await exchange(a, { subject_token: forA, resource: B_API, scope: 'b:read b:write b:admin' });
    assert.equal(toB.issued_token_type, AT);
    assert.equal(toB.token_type.toLowerCase(), 'bearer');
    assert.equal(toB.scope, 'b:read b:write');
    const bClaims = (await verifyAccessToken(server, toB.access_token, B_API)).payload;
    assert.equal(bClaims.sub, userId);
    assert.equal(bClaims.client_id, a.client_id);
    assert.deepEqual(bClaims.act, { sub: a.client_id });
    // B's API takes it, and sees who called on whose behalf
    const atB = await call(bUrl, toB.access_token);
    assert.equal(atB.status, 200);
    assert.deepEqual(atB.body, { sub: userId, client_id: a.client_id, act: { sub: a.client_id } });
    // B's API lives 3600 s but the user's token for A only 300: the exchanged one ends with it
    assert.ok((bClaims.exp as number) <= subjectExp, `${bClaims.exp} <= ${subjectExp}`);

    // B, handling that request, calls C with what the client B may ask of C and the user may have
    const toC = await exchange(b, { subject_token: toB.access_token, resource: C_API, scope: 'c:read c:write' });
    assert.equal(toC.scope, 'c:read');
    const atC = await call(cUrl, toC.access_token);
    assert.equal(atC.status, 200);
    assert.deepEqual(atC.body, {
      sub: userId,
      client_id: b.client_id,
      act: { sub: b.client_id, act: { sub: a.client_id } },
    });
    const cClaims = (await verifyAccessToken(server, toC.access_token, C_API)).payload;
    assert.ok((cClaims.exp as number) <= subjectExp);

    // the exchange is an event naming the chain, and never the token
    const events = await waitForEvents<{ clientId: string; subject: string; details: Record<string, unknown> }>(
      server,
      { type: 'token.exchanged', client_id: b.client_id },
    );
    assert.equal(events[0]?.subject, userId);
    assert.equal(events[0]?.details.actors, `${b.client_id} ${a.client_id}`);
    assert.equal(events[0]?.details.audience, C_API);
    assert.ok(!JSON.stringify(events).includes(toB.access_token.split('.')[2] as string));
  });

  test('with no scope asked, the new token carries what both the client and the user allow', async () => {
    const toB = await exchange(a, { subject_token: await userToken(), resource: B_API });
    assert.equal(toB.scope, 'b:read b:write');
  });

  test('exchanged tokens answer introspection and can be revoked; a revoked one is no subject token', async () => {
    const toB = await exchange(a, { subject_token: await userToken(), resource: B_API, scope: 'b:read' });
    const config = await discover(server, a.client_id, a.client_secret);
    const active = await client.tokenIntrospection(config, toB.access_token);
    assert.equal(active.active, true);
    assert.equal(active.sub, userId);
    await client.tokenRevocation(config, toB.access_token);
    assert.equal((await client.tokenIntrospection(config, toB.access_token)).active, false);
    const err = await refusal(exchange(b, { subject_token: toB.access_token, resource: C_API, scope: 'c:read' }));
    assert.equal(err.error, 'invalid_request');
    assert.match(err.description ?? '', /revoked/);
  });

  test('a disabled user: their tokens exchange no more', async () => {
    const user = await newUser();
    const token = await userToken(user.username);
    assert.equal((await server.admin('PATCH', `/users/${user.id}`, { status: 'disabled' })).status, 200);
    const err = await refusal(exchange(a, { subject_token: token, resource: B_API, scope: 'b:read' }));
    assert.equal(err.error, 'invalid_request');
  });

  test('a bad, foreign-signed or expired subject token is invalid_request', async () => {
    const keystore = await server.running.app.services.keys.load();
    const jwk = keystore.privateJwks.find((k) => (k as JWK).alg === 'ES256') as JWK;
    const ours = await importJWK(jwk, 'ES256');
    const foreign = (await generateKeyPair('ES256')).privateKey;
    const now = Math.floor(Date.now() / 1000);
    const forge = (key: CryptoKey | Uint8Array, exp: number) =>
      new SignJWT({ scope: 'a:read', client_id: web.clientId, jti: randomName('jti') })
        .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: jwk.kid as string })
        .setIssuer(server.issuer)
        .setAudience(A_API)
        .setSubject(userId)
        .setIssuedAt(now)
        .setExpirationTime(exp)
        .sign(key);
    for (const subject_token of [
      'not-a-token',
      await forge(foreign, now + 300),
      await forge(ours, now - 60),
      `${await userToken()}x`,
    ]) {
      const err = await refusal(exchange(a, { subject_token, resource: B_API, scope: 'b:read' }));
      assert.equal(err.error, 'invalid_request', subject_token.slice(0, 20));
    }
    // the same key and claims, not expired: accepted (the refusals above were for the reason named)
    const fresh = await exchange(a, { subject_token: await forge(ours, now + 300), resource: B_API, scope: 'b:read' });
    assert.equal(fresh.scope, 'b:read');
  });

  test('refusals use RFC 8693 codes, each recorded as an event without the token', async () => {
    const token = await userToken();
    const cases: [Service, Record<string, string>, string][] = [
      [
        a,
        { subject_token: token, subject_token_type: 'urn:ietf:params:oauth:token-type:id_token', resource: B_API },
        'invalid_request',
      ],
      [
        a,
        {
          subject_token: token,
          requested_token_type: 'urn:ietf:params:oauth:token-type:refresh_token',
          resource: B_API,
        },
        'invalid_request',
      ],
      [a, { subject_token: token, actor_token: token, actor_token_type: AT, resource: B_API }, 'invalid_request'],
      [a, { resource: B_API }, 'invalid_request'],
      // B may exchange tokens for B's API only
      [b, { subject_token: token, resource: C_API, scope: 'c:read' }, 'unauthorized_client'],
      [a, { subject_token: token, resource: 'https://unknown.example' }, 'invalid_target'],
      [a, { subject_token: token, resource: C_API, scope: 'c:read' }, 'invalid_target'],
      [a, { subject_token: token }, 'invalid_target'],
      [a, { subject_token: token, resource: B_API, audience: C_API }, 'invalid_target'],
      // the client may ask for b:admin, the user's roles do not allow it
      [a, { subject_token: token, resource: B_API, scope: 'b:admin' }, 'invalid_scope'],
    ];
    for (const [svc, params, expected] of cases) {
      const err = await refusal(exchange(svc, params));
      assert.equal(
        err.error,
        expected,
        JSON.stringify({ ...params, subject_token: undefined, actor_token: undefined }),
      );
      assert.equal(err.status, 400);
    }
    const events = await waitForEvents<{ details: Record<string, unknown> }>(
      server,
      { type: 'token.exchange_refused', client_id: a.client_id },
      // the last case's event: written in a batch with the ones before it
      (list) => list.some((e) => e.details.error === 'invalid_scope'),
    );
    assert.ok(events.some((e) => e.details.error === 'invalid_scope'));
    assert.ok(events.some((e) => e.details.error === 'invalid_target'));
    assert.ok(!JSON.stringify(events).includes(token.split('.')[2] as string));
  });

  test('a client without the grant, or allowed no audience, is unauthorized_client', async () => {
    const token = await userToken();
    const plain = await registerService(server, { [B_API]: ['b:read'] });
    const noGrant = await refusal(exchange(plain, { subject_token: token, resource: B_API, scope: 'b:read' }));
    assert.equal(noGrant.error, 'unauthorized_client');
    const none = await exchanger({ [B_API]: ['b:read'] }, { fromAudiences: [] });
    const err = await refusal(exchange(none, { subject_token: token, resource: B_API, scope: 'b:read' }));
    assert.equal(err.error, 'unauthorized_client');
  });

  test('impersonation, allowed by an admin, leaves act out', async () => {
    const imp = await exchanger({ [B_API]: ['b:read'] }, { fromAudiences: [A_API], impersonation: true });
    const got = await server.admin<{ tokenExchange: unknown }>('GET', `/clients/${imp.client_id}`);
    assert.deepEqual(got.body.tokenExchange, { fromAudiences: [A_API], impersonation: true });
    const toB = await exchange(imp, { subject_token: await userToken(), resource: B_API, scope: 'b:read' });
    const claims = (await verifyAccessToken(server, toB.access_token, B_API)).payload;
    assert.equal(claims.sub, userId);
    assert.equal(claims.client_id, imp.client_id);
    assert.equal(claims.act, undefined);
  });

  test("a client-credentials subject token: the subject client's own allowances narrow the scopes", async () => {
    const caller = await registerService(server, { [A_API]: ['a:read'], [B_API]: ['b:read'] });
    const cc = await server.token(caller.client_id, caller.client_secret, {
      grant_type: 'client_credentials',
      resource: A_API,
      scope: 'a:read',
    });
    assert.equal(cc.status, 200);
    const toB = await exchange(a, { subject_token: cc.body.access_token as string, resource: B_API });
    assert.equal(toB.scope, 'b:read');
    const claims = (await verifyAccessToken(server, toB.access_token, B_API)).payload;
    assert.equal(claims.sub, caller.client_id);
    assert.deepEqual(claims.act, { sub: a.client_id });
    // it stands while the subject client does, and not after
    const config = await discover(server, a.client_id, a.client_secret);
    assert.equal((await client.tokenIntrospection(config, toB.access_token)).active, true);
    assert.equal((await server.admin('DELETE', `/clients/${caller.client_id}`)).status, 204);
    assert.equal((await client.tokenIntrospection(config, toB.access_token)).active, false);
  });

  test('bad input in the exchange is a 4xx, never a 5xx', async () => {
    const basic = `Basic ${Buffer.from(`${a.client_id}:${a.client_secret}`).toString('base64')}`;
    for (const body of [
      `grant_type=${encodeURIComponent(GRANT)}&subject_token_type=${encodeURIComponent(AT)}&subject_token=a%00b&resource=${encodeURIComponent(B_API)}`,
      `grant_type=${encodeURIComponent(GRANT)}&subject_token_type=${encodeURIComponent(AT)}&subject_token=${'a.'.repeat(5000)}a&resource=${encodeURIComponent(B_API)}`,
      `grant_type=${encodeURIComponent(GRANT)}&subject_token_type=${encodeURIComponent(AT)}&subject_token=x&subject_token=y&resource=${encodeURIComponent(B_API)}`,
      `grant_type=${encodeURIComponent(GRANT)}&subject_token_type=${encodeURIComponent(AT)}&subject_token=x&resource=${encodeURIComponent(B_API)}&resource=${encodeURIComponent(C_API)}`,
      `grant_type=${encodeURIComponent(GRANT)}&subject_token_type=%ED%A0%80&subject_token=x`,
    ]) {
      const res = await fetch(`${server.url}/token`, {
        method: 'POST',
        headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
        body,
      });
      assert.ok(res.status >= 400 && res.status < 500, `${res.status} for ${body.slice(0, 120)}`);
    }
  });
});

describe('who may allow token exchange (admin delegation)', () => {
  let server: TestServer;
  let writer: string;
  let writerClient: Service;
  const adminAudience = () => `${server.issuer}/admin`;

  before(async () => {
    server = await startTestServer();
    await registerApi(server, A_API, ['a:read']);
    // a delegated admin: clients:write only
    writerClient = await registerService(server, { [adminAudience()]: ['clients:write'] });
    const res = await server.token(writerClient.client_id, writerClient.client_secret, {
      grant_type: 'client_credentials',
      resource: adminAudience(),
      scope: 'clients:write',
    });
    assert.equal(res.status, 200);
    writer = res.body.access_token as string;
  });
  after(() => server?.close());

  const create = (body: Record<string, unknown>, token?: string) =>
    server.admin<{ client_id: string; error?: string; details?: { field: string }[] }>(
      'POST',
      '/clients',
      { grant_types: [GRANT], ...body },
      token,
    );

  test('clients:write may allow exchanging an API’s tokens; the field round-trips', async () => {
    const res = await create({ tokenExchange: { fromAudiences: [A_API] } }, writer);
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const got = await server.admin<{ tokenExchange: unknown; grant_types: string[] }>(
      'GET',
      `/clients/${res.body.client_id}`,
    );
    assert.deepEqual(got.body.tokenExchange, { fromAudiences: [A_API] });
    assert.deepEqual(got.body.grant_types, [GRANT]);
  });

  test('clients:write cannot allow impersonation, nor exchanging the admin API’s tokens', async () => {
    const imp = await create({ tokenExchange: { fromAudiences: [A_API], impersonation: true } }, writer);
    assert.equal(imp.status, 403);
    assert.equal(imp.body.details?.[0]?.field, 'tokenExchange.impersonation');
    const adm = await create({ tokenExchange: { fromAudiences: [adminAudience()] } }, writer);
    assert.equal(adm.status, 403);
    assert.equal(adm.body.details?.[0]?.field, 'tokenExchange.fromAudiences.0');
    // not on itself either
    const self = await server.admin(
      'PATCH',
      `/clients/${writerClient.client_id}`,
      { grant_types: ['client_credentials', GRANT], tokenExchange: { fromAudiences: [A_API], impersonation: true } },
      writer,
    );
    assert.equal(self.status, 403);
    // the admin may
    assert.equal((await create({ tokenExchange: { fromAudiences: [A_API], impersonation: true } })).status, 201);
  });

  test('an impersonating client is out of clients:write’s reach (change, rotate, delete)', async () => {
    const imp = await create({ tokenExchange: { fromAudiences: [A_API], impersonation: true } });
    assert.equal(imp.status, 201);
    const id = imp.body.client_id;
    assert.equal((await server.admin('PATCH', `/clients/${id}`, { client_name: 'mine now' }, writer)).status, 403);
    assert.equal(
      (await server.admin('PATCH', `/clients/${id}`, { tokenExchange: { fromAudiences: [A_API] } }, writer)).status,
      403,
    );
    assert.equal((await server.admin('POST', `/clients/${id}/secret`, undefined, writer)).status, 403);
    assert.equal((await server.admin('DELETE', `/clients/${id}`, undefined, writer)).status, 403);
  });

  test('an unknown audience or a malformed setting is a 400 naming the field', async () => {
    const unknown = await create({ tokenExchange: { fromAudiences: ['https://nope.example'] } });
    assert.equal(unknown.status, 400);
    assert.equal(unknown.body.details?.[0]?.field, 'tokenExchange.fromAudiences.0');
    for (const tokenExchange of [
      { fromAudiences: 'https://a.example' },
      { fromAudiences: [A_API], impersonation: 'yes' },
      { fromAudiences: [A_API], extra: 1 },
      { fromAudiences: [A_API, A_API] },
      {},
    ]) {
      const res = await create({ tokenExchange });
      assert.equal(res.status, 400, JSON.stringify(tokenExchange));
      assert.ok(
        res.body.details?.some((d) => d.field.startsWith('tokenExchange')),
        JSON.stringify(res.body),
      );
    }
  });
});
