import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { client, registerApi } from '../helpers/oidc.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const API = 'https://orders.example';
const REDIRECT = 'http://localhost:8123/cb';

/** private_key_jwt (jwks), PAR required per client, and the per-client FAPI 2.0 profile. */
describe('private_key_jwt, PAR and FAPI 2.0', () => {
  let server: TestServer;
  let keys: Awaited<ReturnType<typeof generateKeyPair>>;
  let publicJwk: Record<string, unknown>;

  const discoverWithKey = (clientId: string, key: CryptoKey) =>
    client.discovery(new URL(server.issuer), clientId, undefined, client.PrivateKeyJwt(key), {
      execute: [client.allowInsecureRequests],
    });

  /** a client assertion (RFC 7523) with the audience of our choosing */
  const assertion = (clientId: string, aud: string) =>
    new SignJWT({ jti: randomUUID() })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer(clientId)
      .setSubject(clientId)
      .setAudience(aud)
      .setIssuedAt()
      .setExpirationTime('1m')
      .sign(keys.privateKey);

  const push = async (clientId: string, aud: string) =>
    fetch(`${server.url}/request`, {
      method: 'POST',
      body: new URLSearchParams({
        client_id: clientId,
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: await assertion(clientId, aud),
        response_type: 'code',
        redirect_uri: REDIRECT,
        scope: 'openid',
        code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
        code_challenge_method: 'S256',
      }),
    });

  const registerApp = async (extra: Record<string, unknown>) => {
    const res = await server.admin<{ client_id: string; client_secret?: string }>('POST', '/clients', {
      client_name: 'app',
      redirect_uris: [REDIRECT],
      token_endpoint_auth_method: 'private_key_jwt',
      jwks: { keys: [publicJwk] },
      ...extra,
    });
    return res;
  };

  before(async () => {
    server = await startTestServer();
    await registerApi(server, API, ['orders:read']);
    keys = await generateKeyPair('ES256', { extractable: true });
    publicJwk = { ...(await exportJWK(keys.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  });
  after(() => server?.close());

  test('private_key_jwt with registered jwks: the right key gets a token, another key does not', async () => {
    const res = await server.admin<{ client_id: string; client_secret?: string }>('POST', '/clients', {
      client_name: 'key service',
      token_endpoint_auth_method: 'private_key_jwt',
      jwks: { keys: [publicJwk] },
      allowedResources: { [API]: ['orders:read'] },
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.equal(res.body.client_secret, undefined);
    const config = await discoverWithKey(res.body.client_id, keys.privateKey);
    const tokens = await client.clientCredentialsGrant(config, { resource: API, scope: 'orders:read' });
    assert.ok(tokens.access_token);

    const other = await generateKeyPair('ES256');
    const wrong = await discoverWithKey(res.body.client_id, other.privateKey);
    await assert.rejects(client.clientCredentialsGrant(wrong, { resource: API }), (err: { error?: string }) => {
      assert.equal(err.error, 'invalid_client');
      return true;
    });
  });

  test('jwks_uri is accepted as https only', async () => {
    const ok = await server.admin('POST', '/clients', {
      token_endpoint_auth_method: 'private_key_jwt',
      jwks_uri: 'https://keys.example/jwks.json',
    });
    assert.equal(ok.status, 201, JSON.stringify(ok.body));
    const bad = await server.admin('POST', '/clients', {
      token_endpoint_auth_method: 'private_key_jwt',
      jwks_uri: 'http://keys.example/jwks.json',
    });
    assert.equal(bad.status, 400);
  });

  test('require_pushed_authorization_requests: a plain authorization request is refused, a pushed one works', async () => {
    const app = await registerApp({ require_pushed_authorization_requests: true });
    assert.equal(app.status, 201, JSON.stringify(app.body));
    const plain = await fetch(
      `${server.url}/auth?${new URLSearchParams({
        client_id: app.body.client_id,
        response_type: 'code',
        redirect_uri: REDIRECT,
        scope: 'openid',
        code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
        code_challenge_method: 'S256',
      })}`,
      { redirect: 'manual' },
    );
    const location = plain.headers.get('location') ?? '';
    assert.ok(plain.status >= 400 || /error=invalid_request/.test(location), `${plain.status} ${location}`);
    assert.ok(!location.includes('/interaction/'));

    const config = await discoverWithKey(app.body.client_id, keys.privateKey);
    const url = await client.buildAuthorizationUrlWithPAR(config, {
      redirect_uri: REDIRECT,
      scope: 'openid',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256',
    });
    assert.ok(url.searchParams.get('request_uri')?.startsWith('urn:ietf:params:oauth:request_uri:'));
    const pushed = await fetch(url, { redirect: 'manual' });
    assert.match(pushed.headers.get('location') ?? '', /\/interaction\//);
  });

  test('fapi_profile 2.0 is refused for clients that cannot follow it', async () => {
    const cases: [string, Record<string, unknown>, RegExp][] = [
      [
        'client secret',
        { token_endpoint_auth_method: 'client_secret_basic', jwks: undefined },
        /token_endpoint_auth_method/,
      ],
      ['no sender constraint', {}, /dpop_bound_access_tokens/],
      ['no PAR', { dpop_bound_access_tokens: true }, /require_pushed_authorization_requests/],
      [
        'RS256 ID tokens',
        { dpop_bound_access_tokens: true, require_pushed_authorization_requests: true },
        /id_token_signed_response_alg/,
      ],
    ];
    for (const [name, extra, reason] of cases) {
      const res = await registerApp({ fapi_profile: '2.0', ...extra });
      assert.equal(res.status, 400, name);
      assert.match(JSON.stringify(res.body), reason, name);
    }
    const bad = await registerApp({ fapi_profile: '1.0' });
    assert.equal(bad.status, 400);
  });

  test('a FAPI 2.0 client must address its assertion to the issuer (FAPI 2.0 §5.3.2.1)', async () => {
    const fapi = await registerApp({
      fapi_profile: '2.0',
      dpop_bound_access_tokens: true,
      require_pushed_authorization_requests: true,
      id_token_signed_response_alg: 'ES256',
    });
    assert.equal(fapi.status, 201, JSON.stringify(fapi.body));
    const plain = await registerApp({});
    assert.equal(plain.status, 201);

    assert.equal((await push(fapi.body.client_id, server.issuer)).status, 201);
    assert.equal((await push(fapi.body.client_id, `${server.issuer}/token`)).status, 401);
    // the contrast: outside the profile, the token endpoint URL is an accepted audience
    assert.equal((await push(plain.body.client_id, `${server.issuer}/token`)).status, 201);
  });
});
