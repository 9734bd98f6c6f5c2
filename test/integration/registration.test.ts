import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/server.ts';

type Registered = {
  client_id: string;
  client_secret?: string;
  registration_access_token: string;
  registration_client_uri: string;
  redirect_uris: string[];
};

const register = (server: TestServer, token: string | undefined, body: unknown) =>
  fetch(`${server.url}/reg`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });

describe('dynamic client registration (RFC 7591, RFC 7592)', () => {
  test('is off by default', async () => {
    const server = await startTestServer();
    try {
      const meta = (await (await fetch(`${server.url}/.well-known/openid-configuration`)).json()) as Record<
        string,
        unknown
      >;
      assert.equal(meta.registration_endpoint, undefined);
      const iat = await server.admin('POST', '/initial-access-tokens', {});
      assert.equal(iat.status, 400);
      assert.notEqual((await register(server, undefined, { redirect_uris: ['https://a.example/cb'] })).status, 201);
    } finally {
      await server.close();
    }
  });

  describe('when enabled', () => {
    let server: TestServer;
    let iat: string;
    before(async () => {
      server = await startTestServer({ env: { REGISTRATION_ENABLED: 'true' } });
      const res = await server.admin<{ initial_access_token: string }>('POST', '/initial-access-tokens', {
        expires_in: 600,
        uses: 10,
      });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      iat = res.body.initial_access_token;
    });
    after(() => server?.close());

    test('needs an initial access token from the admin API', async () => {
      const meta = (await (await fetch(`${server.url}/.well-known/openid-configuration`)).json()) as Record<
        string,
        unknown
      >;
      assert.equal(meta.registration_endpoint, `${server.issuer}/reg`);
      assert.equal((await register(server, undefined, { redirect_uris: ['https://a.example/cb'] })).status, 401);
      assert.equal((await register(server, 'made-up', { redirect_uris: ['https://a.example/cb'] })).status, 401);
    });

    test('registers, reads, updates and deletes a client; the secret is shown once and works', async () => {
      const res = await register(server, iat, { client_name: 'Self-made', redirect_uris: ['https://app.example/cb'] });
      assert.equal(res.status, 201);
      const client = (await res.json()) as Registered;
      assert.match(client.client_secret ?? '', /^[\w-]{43}$/);
      assert.ok(client.registration_access_token);

      // the secret authenticates the client (introspection requires client authentication)
      const basic = `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64')}`;
      const introspect = await fetch(`${server.url}/token/introspection`, {
        method: 'POST',
        headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
        body: 'token=x',
      });
      assert.equal(introspect.status, 200);

      const read = await fetch(client.registration_client_uri, {
        headers: { authorization: `Bearer ${client.registration_access_token}` },
      });
      assert.equal(read.status, 200);
      const readBody = (await read.json()) as Registered;
      assert.equal(readBody.client_secret, undefined, 'neither the secret nor its hash is read back');
      assert.ok(!JSON.stringify(readBody).includes('hmac'));

      const admin = await server.admin<{ client_name: string; first_party: boolean }>(
        'GET',
        `/clients/${client.client_id}`,
      );
      assert.equal(admin.body.client_name, 'Self-made');
      assert.equal(admin.body.first_party, false);

      const update = await fetch(client.registration_client_uri, {
        method: 'PUT',
        headers: { authorization: `Bearer ${readBody.registration_access_token}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          client_id: client.client_id,
          client_name: 'Renamed',
          redirect_uris: ['https://app.example/cb2'],
        }),
      });
      assert.equal(update.status, 200, await update.clone().text());
      const updated = (await update.json()) as Registered;
      assert.deepEqual(updated.redirect_uris, ['https://app.example/cb2']);
      const stillWorks = await fetch(`${server.url}/token/introspection`, {
        method: 'POST',
        headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
        body: 'token=x',
      });
      assert.equal(stillWorks.status, 200, 'an update keeps the secret');

      const del = await fetch(client.registration_client_uri, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${updated.registration_access_token}` },
      });
      assert.equal(del.status, 204);
      assert.equal((await server.admin('GET', `/clients/${client.client_id}`)).status, 404);
    });

    test('the admin rules apply: exact https redirect URIs, no client credentials, never first-party', async () => {
      const cases: [unknown, string][] = [
        [{ redirect_uris: ['http://app.example/cb'] }, 'invalid_redirect_uri'],
        [{ redirect_uris: ['https://app.example/cb#x'] }, 'invalid_redirect_uri'],
        [{ redirect_uris: ['https://app.example/cb'], first_party: true }, 'invalid_client_metadata'],
        [{ grant_types: ['client_credentials'], redirect_uris: [] }, 'invalid_client_metadata'],
        // token exchange is an admin's decision (RFC 8693): neither the grant nor its setting
        [
          { grant_types: ['urn:ietf:params:oauth:grant-type:token-exchange'], redirect_uris: [] },
          'invalid_client_metadata',
        ],
        [
          { redirect_uris: ['https://app.example/cb'], tokenExchange: { fromAudiences: ['https://a.example'] } },
          'invalid_client_metadata',
        ],
        [{ redirect_uris: ['https://app.example/cb'], response_types: ['token'] }, 'invalid_client_metadata'],
      ];
      for (const [body, error] of cases) {
        const res = await register(server, iat, body);
        assert.equal(res.status, 400, JSON.stringify(body));
        assert.equal(((await res.json()) as { error: string }).error, error, JSON.stringify(body));
      }
    });
  });
});
