import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/server.ts';

type ErrorBody = { error: string; error_description: string; details?: { field: string; message: string }[] };

describe('admin API', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server?.close());

  describe('authentication', () => {
    test('no token: 401 with a Bearer challenge', async () => {
      const res = await fetch(`${server.url}/admin/clients`);
      assert.equal(res.status, 401);
      assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer/);
      assert.equal(((await res.json()) as ErrorBody).error, 'invalid_token');
    });

    test('a garbage or tampered token: 401 invalid_token', async () => {
      const token = await server.adminToken();
      for (const bad of ['garbage', `${token.slice(0, -4)}AAAA`]) {
        const res = await server.admin('GET', '/clients', undefined, bad);
        assert.equal(res.status, 401);
        assert.match(res.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
      }
    });

    test('a token for another API is refused', async () => {
      await server.admin('POST', '/resources', { identifier: 'https://other.example', name: 'Other', scopes: ['x'] });
      const svc = await server.admin<{ client_id: string; client_secret: string }>('POST', '/clients', {
        allowedResources: { 'https://other.example': ['x'] },
      });
      const res = await server.token(svc.body.client_id, svc.body.client_secret, {
        grant_type: 'client_credentials',
        resource: 'https://other.example',
        scope: 'x',
      });
      const wrongAudience = await server.admin('GET', '/clients', undefined, res.body.access_token as string);
      assert.equal(wrongAudience.status, 401);
      assert.equal((wrongAudience.body as ErrorBody).error_description, 'the access token is not for this API');
    });

    test('a revoked admin token stops working', async () => {
      const token = await server.adminToken();
      assert.equal((await server.admin('GET', '/clients', undefined, token)).status, 200);
      const res = await fetch(`${server.url}/token/revocation`, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`${server.env.ADMIN_CLIENT_ID}:${server.env.ADMIN_CLIENT_SECRET}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({ token }),
      });
      assert.equal(res.status, 200);
      assert.equal((await server.admin('GET', '/clients', undefined, token)).status, 401);
    });

    test('a token without the needed scope: 403 insufficient_scope', async () => {
      const reader = await server.adminToken('clients:read');
      assert.equal((await server.admin('GET', '/clients', undefined, reader)).status, 200);
      const res = await server.admin('POST', '/clients', { client_name: 'x' }, reader);
      assert.equal(res.status, 403);
      assert.equal((res.body as ErrorBody).error, 'insufficient_scope');
      assert.match(res.headers.get('www-authenticate') ?? '', /insufficient_scope/);
      assert.equal((await server.admin('GET', '/resources', undefined, reader)).status, 403);
    });
  });

  describe('clients', () => {
    test('create, get, list, patch, delete; the secret is shown once', async () => {
      const created = await server.admin<Record<string, unknown>>('POST', '/clients', {
        client_id: 'web-app',
        client_name: 'Web app',
        redirect_uris: ['https://app.example/callback'],
        post_logout_redirect_uris: ['https://app.example/'],
      });
      assert.equal(created.status, 201);
      assert.equal(created.headers.get('location'), '/admin/clients/web-app');
      assert.equal(created.headers.get('cache-control'), 'no-store');
      assert.equal(created.body.client_id, 'web-app');
      assert.match(created.body.client_secret as string, /^[\w-]{43}$/);
      assert.deepEqual(created.body.grant_types, ['authorization_code', 'refresh_token']);
      assert.deepEqual(created.body.response_types, ['code']);

      const fetched = await server.admin<Record<string, unknown>>('GET', '/clients/web-app');
      assert.equal(fetched.status, 200);
      assert.equal(fetched.body.client_secret, undefined);
      assert.equal(JSON.stringify(fetched.body).includes('hmac'), false, 'the hash never leaves the server');

      const list = await server.admin<{ data: { client_id: string }[] }>('GET', '/clients?limit=200');
      assert.ok(list.body.data.some((c) => c.client_id === 'web-app'));

      const patched = await server.admin<Record<string, unknown>>('PATCH', '/clients/web-app', {
        client_name: 'Renamed',
      });
      assert.equal(patched.status, 200);
      assert.equal(patched.body.client_name, 'Renamed');
      assert.deepEqual(patched.body.redirect_uris, ['https://app.example/callback']);

      assert.equal((await server.admin('DELETE', '/clients/web-app')).status, 204);
      assert.equal((await server.admin('GET', '/clients/web-app')).status, 404);
      assert.equal((await server.admin('DELETE', '/clients/web-app')).status, 404);
    });

    test('optimistic concurrency: a stale If-Match gets 412 and changes nothing', async () => {
      const created = await server.admin('POST', '/clients', { client_id: 'etag-app', client_name: 'v1' });
      const etag = created.headers.get('etag');
      assert.match(etag ?? '', /^"[0-9a-z]+"$/);
      const token = await server.adminToken();
      const patch = (ifMatch: string, name: string) =>
        fetch(`${server.url}/admin/clients/etag-app`, {
          method: 'PATCH',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'if-match': ifMatch },
          body: JSON.stringify({ client_name: name }),
        });
      await new Promise((r) => setTimeout(r, 5));
      const first = await patch(etag as string, 'v2');
      assert.equal(first.status, 200);
      assert.notEqual(first.headers.get('etag'), etag);
      const stale = await patch(etag as string, 'v3');
      assert.equal(stale.status, 412);
      assert.equal(((await stale.json()) as { error: string }).error, 'precondition_failed');
      assert.equal((await server.admin<{ client_name: string }>('GET', '/clients/etag-app')).body.client_name, 'v2');
      const staleDelete = await fetch(`${server.url}/admin/clients/etag-app`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${token}`, 'if-match': etag as string },
      });
      assert.equal(staleDelete.status, 412);
      assert.equal((await server.admin('GET', '/clients/etag-app')).status, 200);
    });

    test('cursor pagination walks every client once', async () => {
      for (let i = 0; i < 5; i++) await server.admin('POST', '/clients', { client_id: `page-${i}` });
      const seen: string[] = [];
      let after: string | undefined;
      do {
        const res = await server.admin<{ data: { client_id: string }[]; next?: string }>(
          'GET',
          `/clients?limit=2${after ? `&after=${after}` : ''}`,
        );
        assert.equal(res.status, 200);
        seen.push(...res.body.data.map((c) => c.client_id));
        after = res.body.next;
      } while (after);
      assert.equal(new Set(seen).size, seen.length);
      for (let i = 0; i < 5; i++) assert.ok(seen.includes(`page-${i}`));
    });

    test('lists filter clients by name prefix and APIs by identifier prefix', async () => {
      await server.admin('POST', '/clients', { client_id: 'filter-a', client_name: 'Billing sync' });
      await server.admin('POST', '/clients', { client_id: 'filter-b', client_name: 'Reporting' });
      const clients = await server.admin<{ data: { client_id: string }[] }>('GET', '/clients?client_name=Billing');
      assert.deepEqual(
        clients.body.data.map((c) => c.client_id),
        ['filter-a'],
      );
      await server.admin('POST', '/resources', { identifier: 'https://filter.example/one', name: 'One' });
      const apis = await server.admin<{ data: { identifier: string }[] }>(
        'GET',
        `/resources?identifier=${encodeURIComponent('https://filter.example/')}`,
      );
      assert.deepEqual(
        apis.body.data.map((r) => r.identifier),
        ['https://filter.example/one'],
      );
    });

    test('a duplicate client_id is 409', async () => {
      assert.equal((await server.admin('POST', '/clients', { client_id: 'dup' })).status, 201);
      const res = await server.admin('POST', '/clients', { client_id: 'dup' });
      assert.equal(res.status, 409);
      assert.equal((res.body as ErrorBody).error, 'conflict');
    });

    test('a public client gets no secret; it cannot use client_credentials', async () => {
      const spa = await server.admin<Record<string, unknown>>('POST', '/clients', {
        client_name: 'SPA',
        token_endpoint_auth_method: 'none',
        redirect_uris: ['http://localhost:5173/callback'],
      });
      assert.equal(spa.status, 201);
      assert.equal(spa.body.client_secret, undefined);
      const rotate = await server.admin('POST', `/clients/${spa.body.client_id}/secret`);
      assert.equal(rotate.status, 400);
      const cc = await server.admin('POST', '/clients', {
        token_endpoint_auth_method: 'none',
        grant_types: ['client_credentials'],
      });
      assert.equal(cc.status, 400);
      assert.equal((cc.body as ErrorBody).error, 'invalid_client_metadata');
    });

    const invalid: [string, unknown, string][] = [
      ['an unknown field', { client_name: 'x', colour: 'red' }, 'colour'],
      ['a wrong type', { client_name: 42 }, 'client_name'],
      ['an http redirect URI off localhost', { redirect_uris: ['http://app.example/cb'] }, 'redirect_uris.0'],
      ['a redirect URI with a fragment', { redirect_uris: ['https://app.example/cb#x'] }, 'redirect_uris.0'],
      ['a wildcard redirect URI', { redirect_uris: ['https://*.example/cb'] }, 'redirect_uris.0'],
      ['a relative redirect URI', { redirect_uris: ['/cb'] }, 'redirect_uris.0'],
      ['the implicit grant', { grant_types: ['implicit'] }, 'grant_types.0'],
      ['the password grant', { grant_types: ['password'] }, 'grant_types.0'],
      ['an implicit response type', { response_types: ['token'] }, 'response_types.0'],
      ['client_secret_jwt', { token_endpoint_auth_method: 'client_secret_jwt' }, 'token_endpoint_auth_method'],
      ['an HMAC ID token algorithm', { id_token_signed_response_alg: 'HS256' }, 'id_token_signed_response_alg'],
      ['a bad client_id', { client_id: 'has space' }, 'client_id'],
      [
        'a scope with a space',
        { allowedResources: { 'https://api.example': ['a b'] } },
        'allowedResources.https://api.example.0',
      ],
      ['a private-use scheme for a web app', { redirect_uris: ['com.example.app:/cb'] }, 'redirect_uris.0'],
    ];
    for (const [what, body, field] of invalid) {
      test(`400 naming the field for ${what}`, async () => {
        const res = await server.admin('POST', '/clients', body);
        assert.equal(res.status, 400, JSON.stringify(res.body));
        const error = res.body as ErrorBody;
        assert.equal(error.error, 'invalid_request');
        assert.ok(
          error.details?.some((d) => d.field === field),
          `expected ${field} in ${JSON.stringify(error.details)}`,
        );
      });
    }

    test('a native app may use a private-use scheme and loopback on any port', async () => {
      const res = await server.admin('POST', '/clients', {
        application_type: 'native',
        token_endpoint_auth_method: 'none',
        redirect_uris: ['com.example.app:/callback', 'http://127.0.0.1/callback'],
      });
      assert.equal(res.status, 201, JSON.stringify(res.body));
    });
  });

  describe('malformed requests', () => {
    test('invalid JSON: 400 invalid_json', async () => {
      const res = await server.admin('POST', '/clients', '{"client_name":');
      assert.equal(res.status, 400);
      assert.equal((res.body as ErrorBody).error, 'invalid_json');
    });

    test('a JSON array or null body: 400', async () => {
      for (const body of ['[]', 'null', '"x"']) {
        const res = await server.admin('POST', '/resources', body);
        assert.equal(res.status, 400, body);
      }
    });

    test('the wrong content type: 415', async () => {
      const token = await server.adminToken();
      const res = await fetch(`${server.url}/admin/clients`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'text/plain' },
        body: '{}',
      });
      assert.equal(res.status, 415);
    });

    test('an oversized body: 413', async () => {
      const res = await server.admin('POST', '/clients', { client_name: 'x'.repeat(70_000) });
      assert.equal(res.status, 413);
    });

    test('an unknown admin path: 404; a wrong method: 405', async () => {
      assert.equal((await server.admin('GET', '/nothing-here')).status, 404);
      assert.equal((await server.admin('PUT', '/clients')).status, 405);
    });

    test('a bad pagination parameter: 400 naming it', async () => {
      const res = await server.admin('GET', '/clients?limit=100000');
      assert.equal(res.status, 400);
      assert.equal((res.body as ErrorBody).details?.[0]?.field, 'query.limit');
    });
  });

  describe('resources', () => {
    test('create, get, list, patch, delete', async () => {
      const created = await server.admin<Record<string, unknown>>('POST', '/resources', {
        identifier: 'https://payments.example',
        name: 'Payments',
        scopes: ['pay:read'],
        accessTokenTtl: 600,
      });
      assert.equal(created.status, 201);
      const id = created.body.id as string;
      assert.match(id, /^rs_/);
      assert.equal((await server.admin('GET', `/resources/${id}`)).body?.name, 'Payments');
      const patched = await server.admin<Record<string, unknown>>('PATCH', `/resources/${id}`, {
        scopes: ['pay:read', 'pay:write'],
      });
      assert.deepEqual(patched.body.scopes, ['pay:read', 'pay:write']);
      const list = await server.admin<{ data: { id: string }[] }>('GET', '/resources');
      assert.ok(list.body.data.some((r) => r.id === id));
      assert.equal((await server.admin('DELETE', `/resources/${id}`)).status, 204);
      assert.equal((await server.admin('GET', `/resources/${id}`)).status, 404);
    });

    test('the identifier cannot change and must be unique; the admin API identifier is reserved', async () => {
      const body = { identifier: 'https://unique.example', name: 'U' };
      assert.equal((await server.admin('POST', '/resources', body)).status, 201);
      assert.equal((await server.admin('POST', '/resources', body)).status, 409);
      const reserved = await server.admin('POST', '/resources', { identifier: `${server.issuer}/admin`, name: 'A' });
      assert.equal(reserved.status, 409);
      const list = await server.admin<{ data: { id: string; identifier: string }[] }>('GET', '/resources?limit=200');
      const id = list.body.data.find((r) => r.identifier === 'https://unique.example')?.id;
      const res = await server.admin('PATCH', `/resources/${id}`, { identifier: 'https://changed.example' });
      assert.equal(res.status, 400);
      assert.equal((res.body as ErrorBody).details?.[0]?.field, 'identifier');
    });

    const invalid: [string, unknown, string][] = [
      ['a missing identifier', { name: 'x' }, 'identifier'],
      ['a relative identifier', { identifier: 'orders', name: 'x' }, 'identifier'],
      ['an identifier with a fragment', { identifier: 'https://a.example#x', name: 'x' }, 'identifier'],
      ['a TTL too long', { identifier: 'https://a.example', name: 'x', accessTokenTtl: 999999 }, 'accessTokenTtl'],
      [
        'a TTL that is not an integer',
        { identifier: 'https://a.example', name: 'x', accessTokenTtl: '300' },
        'accessTokenTtl',
      ],
      ['a duplicate scope', { identifier: 'https://a.example', name: 'x', scopes: ['a', 'a'] }, 'scopes'],
      ['an unknown field', { identifier: 'https://a.example', name: 'x', audience: 'y' }, 'audience'],
    ];
    for (const [what, body, field] of invalid) {
      test(`400 naming the field for ${what}`, async () => {
        const res = await server.admin('POST', '/resources', body);
        assert.equal(res.status, 400, JSON.stringify(res.body));
        assert.ok(
          (res.body as ErrorBody).details?.some((d) => d.field === field),
          JSON.stringify(res.body),
        );
      });
    }
  });
});
