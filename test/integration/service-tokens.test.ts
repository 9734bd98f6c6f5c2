import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { client, discover, registerApi, registerService, verifyAccessToken } from '../helpers/oidc.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const API = 'https://orders.example';

/** The OAuth error code of a refused request, from the body or (a 401) the WWW-Authenticate challenge. */
async function rejection(promise: Promise<unknown>) {
  try {
    await promise;
  } catch (err) {
    const e = err as { error?: string; status?: number; cause?: unknown };
    const challenge = Array.isArray(e.cause) ? (e.cause[0] as { parameters?: { error?: string } }) : undefined;
    return { status: e.status, error: e.error ?? challenge?.parameters?.error };
  }
  assert.fail('expected the request to be refused');
}

describe('service tokens (client credentials)', () => {
  let server: TestServer;
  let service: { client_id: string; client_secret: string };

  before(async () => {
    server = await startTestServer();
    await registerApi(server, API, ['orders:read', 'orders:write', 'orders:admin']);
    service = await registerService(server, { [API]: ['orders:read', 'orders:write'] });
  });
  after(() => server?.close());

  test('discovery advertises the endpoints and no implicit flow', async () => {
    const config = await discover(server, service.client_id, service.client_secret);
    const meta = config.serverMetadata();
    assert.equal(meta.issuer, server.issuer);
    assert.ok(meta.token_endpoint && meta.jwks_uri && meta.introspection_endpoint && meta.revocation_endpoint);
    assert.deepEqual(meta.response_types_supported, ['code']);
    assert.deepEqual(meta.code_challenge_methods_supported, ['S256']);
    assert.ok(!meta.token_endpoint_auth_methods_supported?.includes('client_secret_jwt'));
  });

  test('issues an RFC 9068 JWT carrying only the allowed scopes that were asked for', async () => {
    const config = await discover(server, service.client_id, service.client_secret);
    const tokens = await client.clientCredentialsGrant(config, {
      resource: API,
      scope: 'orders:read orders:admin unknown:scope',
    });
    assert.equal(tokens.token_type.toLowerCase(), 'bearer');
    assert.equal(tokens.scope, 'orders:read');
    const { payload, header } = await verifyAccessToken(server, tokens.access_token, API);
    assert.equal(header.typ, 'at+jwt');
    assert.equal(header.alg, 'ES256');
    assert.equal(payload.iss, server.issuer);
    assert.equal(payload.aud, API);
    assert.equal(payload.client_id, service.client_id);
    assert.equal(payload.sub, service.client_id);
    assert.equal(payload.scope, 'orders:read');
    assert.equal(typeof payload.jti, 'string');
    assert.equal((payload.exp as number) - (payload.iat as number), 300);
  });

  test('a service with one API gets it without naming the resource', async () => {
    const config = await discover(server, service.client_id, service.client_secret);
    const tokens = await client.clientCredentialsGrant(config, { scope: 'orders:write' });
    const { payload } = await verifyAccessToken(server, tokens.access_token, API);
    assert.equal(payload.scope, 'orders:write');
  });

  test('a wrong secret is invalid_client', async () => {
    const config = await discover(server, service.client_id, `${service.client_secret.slice(0, -1)}x`);
    const err = await rejection(client.clientCredentialsGrant(config, { resource: API }));
    assert.equal(err.error, 'invalid_client');
  });

  test('an unknown client is invalid_client', async () => {
    const config = await discover(server, 'no-such-client', service.client_secret);
    const err = await rejection(client.clientCredentialsGrant(config, { resource: API }));
    assert.equal(err.error, 'invalid_client');
  });

  test('an unknown resource is invalid_target', async () => {
    const config = await discover(server, service.client_id, service.client_secret);
    const err = await rejection(client.clientCredentialsGrant(config, { resource: 'https://unknown.example' }));
    assert.equal(err.error, 'invalid_target');
  });

  test('a registered API the client is not allowed is invalid_target', async () => {
    await registerApi(server, 'https://billing.example', ['billing:read']);
    const config = await discover(server, service.client_id, service.client_secret);
    const err = await rejection(client.clientCredentialsGrant(config, { resource: 'https://billing.example' }));
    assert.equal(err.error, 'invalid_target');
  });

  test('a service cannot get an admin API token unless allowed', async () => {
    const config = await discover(server, service.client_id, service.client_secret);
    const err = await rejection(
      client.clientCredentialsGrant(config, { resource: `${server.issuer}/admin`, scope: 'admin' }),
    );
    assert.equal(err.error, 'invalid_target');
  });

  test('introspection answers for JWT access tokens and requires client authentication', async () => {
    const config = await discover(server, service.client_id, service.client_secret);
    const { access_token } = await client.clientCredentialsGrant(config, { resource: API, scope: 'orders:read' });
    // the API's own client, which an admin allowed to introspect the API's tokens
    const api = await registerService(server, {}, { introspection_audiences: [API] });
    const apiConfig = await discover(server, api.client_id, api.client_secret);
    const result = await client.tokenIntrospection(apiConfig, access_token);
    assert.equal(result.active, true);
    assert.equal(result.client_id, service.client_id);
    assert.equal(result.scope, 'orders:read');
    assert.equal(result.aud, API);
    assert.equal(result.token_type, 'Bearer');

    const anonymous = await fetch(`${server.url}/token/introspection`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: access_token }),
    });
    assert.equal(anonymous.status, 400);
    const wrongSecret = await discover(server, api.client_id, 'wrong');
    const err = await rejection(client.tokenIntrospection(wrongSecret, access_token));
    assert.equal(err.error, 'invalid_client');

    const garbage = await client.tokenIntrospection(apiConfig, 'not-a-token');
    assert.equal(garbage.active, false);
  });

  test('a revoked JWT is reported inactive; another client cannot revoke it', async () => {
    const config = await discover(server, service.client_id, service.client_secret);
    const { access_token } = await client.clientCredentialsGrant(config, { resource: API, scope: 'orders:read' });
    const other = await registerService(server, {}, { introspection_audiences: [API] });
    const otherConfig = await discover(server, other.client_id, other.client_secret);

    const err = await rejection(client.tokenRevocation(otherConfig, access_token));
    assert.equal(err.error, 'invalid_request');
    assert.equal((await client.tokenIntrospection(otherConfig, access_token)).active, true);

    await client.tokenRevocation(config, access_token);
    assert.equal((await client.tokenIntrospection(otherConfig, access_token)).active, false);
  });

  test('rotating the secret retires the old one at once', async () => {
    const svc = await registerService(server, { [API]: ['orders:read'] });
    const rotated = await server.admin<{ client_secret: string }>('POST', `/clients/${svc.client_id}/secret`);
    assert.equal(rotated.status, 200);
    assert.notEqual(rotated.body.client_secret, svc.client_secret);
    const old = await server.token(svc.client_id, svc.client_secret, {
      grant_type: 'client_credentials',
      resource: API,
    });
    assert.equal(old.status, 401);
    assert.equal(old.body.error, 'invalid_client');
    const fresh = await server.token(svc.client_id, rotated.body.client_secret, {
      grant_type: 'client_credentials',
      resource: API,
    });
    assert.equal(fresh.status, 200);
  });

  test('admin changes take effect at once: a deleted client, a removed scope', async () => {
    const api = await registerApi(server, 'https://inventory.example', ['stock:read', 'stock:write']);
    const svc = await registerService(server, { 'https://inventory.example': ['stock:read', 'stock:write'] });
    const ask = () =>
      server.token(svc.client_id, svc.client_secret, {
        grant_type: 'client_credentials',
        resource: 'https://inventory.example',
        scope: 'stock:read stock:write',
      });
    assert.equal((await ask()).body.scope, 'stock:read stock:write');

    const patched = await server.admin('PATCH', `/resources/${api.id}`, { scopes: ['stock:read'] });
    assert.equal(patched.status, 200);
    assert.equal((await ask()).body.scope, 'stock:read');

    const narrowed = await server.admin('PATCH', `/clients/${svc.client_id}`, { allowedResources: {} });
    assert.equal(narrowed.status, 200);
    assert.equal((await ask()).body.error, 'invalid_target');

    assert.equal((await server.admin('DELETE', `/clients/${svc.client_id}`)).status, 204);
    const gone = await ask();
    assert.equal(gone.status, 401);
    assert.equal(gone.body.error, 'invalid_client');
  });
});
