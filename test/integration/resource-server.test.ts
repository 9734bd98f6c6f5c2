import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { generateKeyPair, importJWK, type JWK, SignJWT } from 'jose';
import { httpAccessToken } from '../../packages/resource-server/src/index.ts';
import { registerApi, registerService } from '../helpers/oidc.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const API = 'https://orders.example';
const OTHER_API = 'https://billing.example';

/** The exported middleware, on plain node:http, against tokens from a real server. */
describe('resource-server token check', () => {
  let server: TestServer;
  let service: { client_id: string; client_secret: string };
  const apis: Server[] = [];

  const serve = async (options: Partial<Parameters<typeof httpAccessToken>[0]> = {}) => {
    const authenticate = httpAccessToken({
      issuer: server.issuer,
      audience: API,
      jwksUri: `${server.url}/jwks`,
      scopes: ['orders:read'],
      ...options,
    });
    const api = createServer(async (req, res) => {
      const token = await authenticate(req, res);
      if (!token) return;
      res.end(JSON.stringify({ sub: token.claims.sub, binding: token.binding }));
    });
    apis.push(api);
    await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
    return `http://localhost:${(api.address() as AddressInfo).port}/orders`;
  };

  const tokenFor = async (resource: string, scope: string) => {
    const res = await server.token(service.client_id, service.client_secret, {
      grant_type: 'client_credentials',
      resource,
      scope,
    });
    assert.equal(res.status, 200);
    return res.body.access_token as string;
  };

  /** a token signed with the server's own current key, with claims of our choosing */
  const forge = async (
    claims: Record<string, unknown>,
    header: { typ?: string; kid?: string; key?: 'server' | 'other' } = {},
  ) => {
    const keystore = await server.running.app.services.keys.load();
    const jwk = keystore.privateJwks.find((k) => (k as JWK).alg === 'ES256') as JWK;
    const key = header.key === 'other' ? (await generateKeyPair('ES256')).privateKey : await importJWK(jwk, 'ES256');
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({
      iss: server.issuer,
      aud: API,
      sub: service.client_id,
      iat: now - 600,
      exp: now + 300,
      client_id: service.client_id,
      scope: 'orders:read',
      jti: crypto.randomUUID(),
      ...claims,
    })
      .setProtectedHeader({ alg: 'ES256', typ: header.typ ?? 'at+jwt', kid: header.kid ?? (jwk.kid as string) })
      .sign(key);
  };

  before(async () => {
    server = await startTestServer();
    await registerApi(server, API, ['orders:read', 'orders:write']);
    await registerApi(server, OTHER_API, ['billing:read']);
    service = await registerService(server, { [API]: ['orders:read', 'orders:write'], [OTHER_API]: ['billing:read'] });
  });
  after(async () => {
    for (const api of apis) api.close();
    await server?.close();
  });

  test('accepts a good token and refuses expired, wrong-audience, wrong-key and mistyped ones', async () => {
    const url = await serve();
    const call = (token: string) => fetch(url, { headers: { authorization: `Bearer ${token}` } });
    const good = await call(await tokenFor(API, 'orders:read'));
    assert.equal(good.status, 200);
    assert.deepEqual(await good.json(), { sub: service.client_id, binding: 'bearer' });
    // the forged-but-valid control: the same helper with nothing wrong passes, so each refusal below is for its one fault
    assert.equal((await call(await forge({}))).status, 200);

    const now = Math.floor(Date.now() / 1000);
    const cases: [string, string, RegExp][] = [
      ['expired', await forge({ exp: now - 60 }), /expired/],
      ['not yet valid', await forge({ nbf: now + 600 }), /not valid yet/],
      ['wrong audience', await tokenFor(OTHER_API, 'billing:read'), /not for this API/],
      ['wrong key, known kid', await forge({}, { key: 'other' }), /signature/],
      ['wrong key, unknown kid', await forge({}, { key: 'other', kid: 'unknown' }), /does not publish/],
      ['typ JWT (an ID token shape)', await forge({}, { typ: 'JWT' }), /typ/],
      ['another issuer', await forge({ iss: 'https://evil.example' }), /issuer/],
      ['garbage', 'not.a.jwt', /invalid/],
    ];
    for (const [name, token, reason] of cases) {
      const res = await call(token);
      assert.equal(res.status, 401, name);
      const challenge = res.headers.get('www-authenticate') ?? '';
      assert.match(challenge, /^Bearer error="invalid_token"/, name);
      assert.match(((await res.json()) as { error_description: string }).error_description, reason, name);
    }
  });

  test('answers a missing token, a malformed header and a missing scope as RFC 6750 says', async () => {
    const url = await serve();
    const missing = await fetch(url);
    assert.equal(missing.status, 401);
    assert.match(missing.headers.get('www-authenticate') ?? '', /^Bearer, DPoP algs=/);
    const malformed = await fetch(url, { headers: { authorization: 'Basic abc' } });
    assert.equal(malformed.status, 400);
    const scoped = await fetch(url, { headers: { authorization: `Bearer ${await tokenFor(API, 'orders:write')}` } });
    assert.equal(scoped.status, 403);
    assert.match(scoped.headers.get('www-authenticate') ?? '', /error="insufficient_scope", .*scope="orders:read"/);
  });

  test('with senderConstraint required, an unbound bearer token is refused', async () => {
    const url = await serve({ senderConstraint: 'required' });
    const res = await fetch(url, { headers: { authorization: `Bearer ${await tokenFor(API, 'orders:read')}` } });
    assert.equal(res.status, 401);
    assert.match(((await res.json()) as { error_description: string }).error_description, /sender-constrained/);
  });

  test('an unreachable JWKS is a 503, not a 401', async () => {
    const url = await serve({ jwksUri: 'http://127.0.0.1:9/jwks' });
    const res = await fetch(url, { headers: { authorization: `Bearer ${await tokenFor(API, 'orders:read')}` } });
    assert.equal(res.status, 503);
  });
});
