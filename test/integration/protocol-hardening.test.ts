import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { generateKeyPair, SignJWT } from 'jose';
import { metricValue } from '../helpers/form-signin.ts';
import { client, discover, registerApi, registerService } from '../helpers/oidc.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const API = 'https://orders.example';
const WINDOW = 2;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const basic = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
const form = 'application/x-www-form-urlencoded';

type Service = { client_id: string; client_secret: string };

/** A raw request: fetch would normalise some of the spellings under test. */
function post(server: TestServer, path: string, auth: string, body: Record<string, string>) {
  return fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { authorization: auth, 'content-type': form },
    body: new URLSearchParams(body),
  });
}

async function rawStatus(server: TestServer, method: string, path: string, headers: Record<string, string> = {}) {
  const { request } = await import('node:http');
  const url = new URL(server.url);
  return new Promise<number>((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, method, path, headers }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

test('regression: /TOKEN and /token/ are counted by the per-client token limit (other spellings are not served)', async () => {
  const limited = await startTestServer({
    env: { RATE_LIMIT_WINDOW: String(WINDOW), RATE_LIMIT_TOKEN: '3' },
  });
  try {
    await registerApi(limited, API, ['orders:read']);
    const svc = await registerService(limited, { [API]: ['orders:read'] });
    await sleep(WINDOW * 1000);
    const ask = (path: string) =>
      post(limited, path, basic(svc.client_id, svc.client_secret), { grant_type: 'client_credentials', resource: API });
    const statuses: Record<string, number> = {};
    for (const path of ['/TOKEN', '/token/', '/Token', '/%74oken', '//token', '/token;x']) {
      statuses[path] = (await ask(path)).status;
    }
    assert.deepEqual(Object.values(statuses), [404, 404, 404, 404, 404, 404], JSON.stringify(statuses));
    // none of them issued a token outside the limit: the canonical path still has all three
    const canonical = [(await ask('/token')).status, (await ask('/token')).status, (await ask('/token')).status];
    assert.deepEqual(canonical, [200, 200, 200]);
    assert.equal((await ask('/token')).status, 429);
    assert.equal((await ask('/TOKEN')).status, 404);
    assert.equal((await ask('/token/')).status, 404);
  } finally {
    await limited.close();
  }
});

describe('protocol hardening', () => {
  let server: TestServer;
  let service: Service;

  before(async () => {
    server = await startTestServer({ env: { REGISTRATION_ENABLED: 'true' } });
    await registerApi(server, API, ['orders:read', 'orders:write']);
    service = await registerService(server, { [API]: ['orders:read'] });
  });
  after(() => server?.close());

  const serviceToken = async (svc: Service = service) => {
    const res = await post(server, '/token', basic(svc.client_id, svc.client_secret), {
      grant_type: 'client_credentials',
      resource: API,
      scope: 'orders:read',
    });
    assert.equal(res.status, 200);
    return ((await res.json()) as { access_token: string }).access_token;
  };
  const introspect = async (caller: Service, token: string) => {
    const res = await post(server, '/token/introspection', basic(caller.client_id, caller.client_secret), { token });
    assert.equal(res.status, 200);
    return (await res.json()) as { active: boolean; aud?: string; client_id?: string };
  };
  const initialAccessToken = async (body: Record<string, unknown> = {}) => {
    const res = await server.admin<{ initial_access_token: string }>('POST', '/initial-access-tokens', body);
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body.initial_access_token;
  };
  const register = (iat: string, body: unknown) =>
    fetch(`${server.url}/reg`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${iat}` },
      body: JSON.stringify(body),
    });

  test('regression: every non-canonical spelling of a path is refused before any router sees it', async () => {
    const admin = `Bearer ${await server.adminToken()}`;
    const created = await server.admin('POST', '/clients', { client_id: 'MixedCase-Client', client_name: 'x' });
    assert.equal(created.status, 201);
    for (const [method, path] of [
      ['POST', '/Token/Introspection'],
      ['POST', '/token/introspection/'],
      ['POST', '/token/Revocation'],
      ['POST', '/token//introspection'],
      ['POST', '/token/./introspection'],
      ['POST', '/token/%69ntrospection'],
      ['GET', '/JWKS'],
      ['GET', '/.well-known/OPENID-configuration'],
      ['GET', '/ADMIN/clients'],
      ['GET', '/admin/clients/'],
      ['GET', '/admin/Clients'],
      ['GET', '/admin/clients/MixedCase-Client/'],
      ['GET', '/Interaction/abc'],
      ['GET', '/account/'],
      ['GET', '/Account'],
      ['GET', '/HEALTHZ'],
      ['GET', '/a%2fb'],
    ] as const) {
      assert.equal(await rawStatus(server, method, path, { authorization: admin }), 404, `${method} ${path}`);
    }
    // malformed percent-encoding is bad input rather than another spelling: refused with a 400
    assert.equal(await rawStatus(server, 'GET', '/token%'), 400);
    // the canonical spellings, with parameters in any case, still work
    assert.equal(await rawStatus(server, 'GET', '/admin/clients/MixedCase-Client', { authorization: admin }), 200);
    assert.equal(await rawStatus(server, 'GET', '/admin/clients', { authorization: admin }), 200);
    assert.equal(await rawStatus(server, 'GET', '/jwks'), 200);
    assert.equal(await rawStatus(server, 'GET', '/.well-known/openid-configuration'), 200);
    assert.equal(await rawStatus(server, 'GET', '/healthz'), 200);
  });

  test('regression: a confidential client that is not the token’s resource server cannot introspect it', async () => {
    const token = await serviceToken();
    const adminToken = await server.adminToken();
    const bystander = await registerService(server, {});
    assert.deepEqual(await introspect(bystander, token), { active: false });
    assert.deepEqual(await introspect(bystander, adminToken), { active: false });

    // the API's own client, allowed by an admin, sees the tokens for it, not the admin's
    const api = await registerService(server, {}, { introspection_audiences: [API] });
    const seen = await introspect(api, token);
    assert.equal(seen.active, true);
    assert.equal(seen.aud, API);
    assert.equal(seen.client_id, service.client_id);
    assert.deepEqual(await introspect(api, adminToken), { active: false });
    // the token's own client still may
    assert.equal((await introspect(service, token)).active, true);
  });

  test('regression: a self-registered client cannot introspect other clients’ tokens, nor grant itself the right', async () => {
    const iat = await initialAccessToken({ uses: 3 });
    const refused = await register(iat, {
      redirect_uris: ['https://self.example/cb'],
      introspection_audiences: [`${server.issuer}/admin`],
    });
    assert.equal(refused.status, 400);
    assert.equal(((await refused.json()) as { error: string }).error, 'invalid_client_metadata');

    const res = await register(iat, { redirect_uris: ['https://self.example/cb'] });
    assert.equal(res.status, 201);
    const self = (await res.json()) as Service;
    assert.deepEqual(await introspect(self, await server.adminToken()), { active: false });
    assert.deepEqual(await introspect(self, await serviceToken()), { active: false });
  });

  test('regression: an initial access token registers one client, even with parallel requests', async () => {
    const iat = await initialAccessToken();
    const body = { redirect_uris: ['https://one.example/cb'] };
    // a refused registration does not spend it
    assert.equal((await register(iat, { redirect_uris: ['http://one.example/cb'] })).status, 400);
    const statuses = (await Promise.all([register(iat, body), register(iat, body), register(iat, body)])).map(
      (r) => r.status,
    );
    assert.deepEqual(
      statuses.toSorted((a, b) => a - b),
      [201, 401, 401],
      JSON.stringify(statuses),
    );
    assert.equal((await register(iat, body)).status, 401);

    const twice = await initialAccessToken({ uses: 2 });
    const two = await Promise.all([register(twice, body), register(twice, body), register(twice, body)]);
    assert.deepEqual(
      two.map((r) => r.status).toSorted((a, b) => a - b),
      [201, 201, 401],
    );
    assert.equal((await server.admin('POST', '/initial-access-tokens', { uses: 0 })).status, 400);
  });

  describe('regression: the server makes no request to where a client points (jwks_uri)', () => {
    let listener: Server;
    let port = 0;
    let connections = 0;
    before(async () => {
      listener = createServer((socket) => {
        connections++;
        socket.destroy();
      });
      await new Promise<void>((resolve, reject) => {
        listener.once('error', reject);
        listener.listen(0, '127.0.0.1', () => resolve());
      });
      port = (listener.address() as { port: number }).port;
    });
    after(() => new Promise<void>((resolve) => listener.close(() => resolve())));

    test('a self-registered client must send its keys by value', async () => {
      const iat = await initialAccessToken({ uses: 5 });
      for (const field of ['jwks_uri', 'sector_identifier_uri']) {
        const res = await register(iat, {
          redirect_uris: ['https://keys.example/cb'],
          token_endpoint_auth_method: 'private_key_jwt',
          [field]: `https://127.0.0.1:${port}/jwks`,
        });
        assert.equal(res.status, 400, field);
        assert.equal(((await res.json()) as { error: string }).error, 'invalid_client_metadata');
      }
    });

    test('a jwks_uri on a loopback or private address is never connected to', async () => {
      const { privateKey } = await generateKeyPair('ES256');
      for (const host of [
        `127.0.0.1:${port}`,
        `localhost:${port}`,
        `2130706433:${port}`,
        `0x7f.1:${port}`,
        `[::ffff:127.0.0.1]:${port}`,
        `[::1]:${port}`,
        `0.0.0.0:${port}`,
      ]) {
        const created = await server.admin<{ client_id: string }>('POST', '/clients', {
          client_name: 'keys elsewhere',
          token_endpoint_auth_method: 'private_key_jwt',
          jwks_uri: `https://${host}/jwks`,
        });
        assert.equal(created.status, 201, `${host}: ${JSON.stringify(created.body)}`);
        const id = created.body.client_id;
        const assertion = await new SignJWT({})
          .setProtectedHeader({ alg: 'ES256' })
          .setIssuer(id)
          .setSubject(id)
          .setAudience(server.issuer)
          .setJti(crypto.randomUUID())
          .setIssuedAt()
          .setExpirationTime('1m')
          .sign(privateKey);
        const res = await fetch(`${server.url}/token`, {
          method: 'POST',
          headers: { 'content-type': form },
          body: new URLSearchParams({
            grant_type: 'client_credentials',
            client_id: id,
            client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
            client_assertion: assertion,
          }),
        });
        assert.equal(res.status, 401, host);
        assert.equal(((await res.json()) as { error: string }).error, 'invalid_client');
      }
      assert.equal(connections, 0, 'the server connected to a loopback address');
    });
  });

  test('regression: a revocation answers an empty JSON object that oidc-client-ts can read', async () => {
    for (const token of [await serviceToken(), 'unknown-opaque-token']) {
      const res = await post(server, '/token/revocation', basic(service.client_id, service.client_secret), { token });
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
      assert.deepEqual(await res.json(), {});
    }
    // openid-client reads it too
    const config = await discover(server, service.client_id, service.client_secret);
    await client.tokenRevocation(config, await serviceToken());
  });

  test('regression: the metrics and the access log record 200 for introspection and revocation that answered 200', async () => {
    const token = await serviceToken();
    const labels = (route: string, status: string) => ({ route, status, method: 'POST' });
    const name = 'idp_http_request_duration_seconds_count';
    const before = {
      ok: await metricValue(server, name, labels('introspection', '200')),
      bad: await metricValue(server, name, labels('introspection', '400')),
      revokedOk: await metricValue(server, name, labels('revocation', '200')),
      revokedBad: await metricValue(server, name, labels('revocation', '400')),
    };
    assert.equal((await introspect(service, token)).active, true);
    const revoked = await post(server, '/token/revocation', basic(service.client_id, service.client_secret), {
      token,
    });
    assert.equal(revoked.status, 200);
    assert.equal(await metricValue(server, name, labels('introspection', '200')), before.ok + 1);
    assert.equal(await metricValue(server, name, labels('introspection', '400')), before.bad);
    assert.equal(await metricValue(server, name, labels('revocation', '200')), before.revokedOk + 1);
    assert.equal(await metricValue(server, name, labels('revocation', '400')), before.revokedBad);
  });

  test('regression: client credentials whose requested scopes are all refused get invalid_scope, not an empty token', async () => {
    const svc = await registerService(server, { [API]: ['orders:read'] });
    const ask = (scope?: string) =>
      server.token(svc.client_id, svc.client_secret, {
        grant_type: 'client_credentials',
        resource: API,
        ...(scope === undefined ? {} : { scope }),
      });
    const refused = await ask('orders:write');
    assert.equal(refused.status, 400);
    assert.equal(refused.body.error, 'invalid_scope');
    assert.equal((await ask('orders:write unknown:scope')).body.error, 'invalid_scope');
    const partial = await ask('orders:read orders:write');
    assert.equal(partial.status, 200);
    assert.equal(partial.body.scope, 'orders:read');
    assert.equal((await ask()).status, 200, 'no scope requested stays as it was');
  });

  test('regression: custom client metadata of the wrong type at /reg is 400 invalid_client_metadata, not 500', async () => {
    const iat = await initialAccessToken({ uses: 20 });
    const base = { redirect_uris: ['https://types.example/cb'] };
    for (const extra of [
      { require_mfa: 'yes' },
      { require_mfa: 1 },
      { fapi_profile: 'bogus' },
      { fapi_profile: 2 },
      { fapi_profile: '2.0' },
      { first_party: 'yes' },
      { first_party: true },
      { introspection_audiences: 'https://orders.example' },
      { introspection_audiences: [42] },
      { allowedResources: { [API]: ['orders:read'] } },
      { allowedResources: 'all' },
      { roles: ['admin'] },
      { roles: 'admin' },
    ]) {
      const res = await register(iat, { ...base, ...extra });
      assert.equal(res.status, 400, JSON.stringify(extra));
      assert.equal(((await res.json()) as { error: string }).error, 'invalid_client_metadata', JSON.stringify(extra));
    }
    // the admin API refuses them as well, with the field named
    const admin = await server.admin('POST', '/clients', { client_name: 'x', require_mfa: 'yes' });
    assert.equal(admin.status, 400);
    assert.equal((await register(iat, { ...base, require_mfa: true })).status, 201);
  });
});
