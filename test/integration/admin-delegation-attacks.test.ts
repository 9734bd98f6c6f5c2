import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { waitForEvents } from '../helpers/form-signin.ts';
import { ADMIN_CLIENT_ID, randomName, startTestServer, type TestServer } from '../helpers/server.ts';

/**
 * Attacks on the admin delegation rule (docs/decisions/0010) from a caller holding less than
 * `admin`, over HTTP: what the first fix left open.
 */
type Event = {
  type: string;
  outcome: string;
  actor: string | null;
  subject: string | null;
  details: Record<string, unknown>;
};
type Client = { client_id: string; client_secret: string };
type Registered = Client & { registration_access_token: string; registration_client_uri: string };

describe('admin delegation under attack', () => {
  let server: TestServer;
  let ADMIN: string;
  const as = (scope: string) => server.adminToken(scope);

  before(async () => {
    server = await startTestServer({ env: { REGISTRATION_ENABLED: 'true' } });
    ADMIN = `${server.issuer}/admin`;
  });
  after(() => server?.close());

  test('regression: a weak ETag in If-Match matched (RFC 9110 §13.1.1 compares strongly)', async () => {
    const created = await server.admin<Client>('POST', '/clients', { client_name: 'etag' });
    const path = `/clients/${created.body.client_id}`;
    const etag = (await server.admin('GET', path)).headers.get('etag') as string;
    assert.match(etag, /^"[0-9a-z]+"$/);
    const token = await as('admin');
    const send = (ifMatch: string) =>
      fetch(`${server.url}/admin${path}`, {
        method: 'PATCH',
        headers: {
          authorization: `Bearer ${token}`,
          'if-match': ifMatch,
          'content-type': 'application/json',
        },
        body: JSON.stringify({ client_name: 'changed' }),
      });
    const weak = await send(`W/${etag}`);
    assert.equal(weak.status, 412, await weak.text());
    assert.equal((await server.admin<{ client_name: string }>('GET', path)).body.client_name, 'etag');
    const strong = await send(etag);
    assert.equal(strong.status, 200, await strong.text());
  });

  test('regression: a refused attempt to grant admin API power left no security event', async () => {
    const token = await as('clients:write');
    const refused = await server.admin('POST', '/clients', { allowedResources: { [ADMIN]: ['admin'] } }, token);
    assert.equal(refused.status, 403);
    const boss = await server.admin<{ id: string }>('POST', '/roles', {
      name: randomName('boss'),
      permissions: [{ resource: ADMIN, scope: 'admin' }],
    });
    assert.equal(boss.status, 201);
    const takeover = await server.admin(
      'PATCH',
      `/roles/${boss.body.id}`,
      { permissions: [] },
      await as('roles:write'),
    );
    assert.equal(takeover.status, 403);
    // a token lacking the route's scope altogether is refused before its body is read
    const noScope = await server.admin('POST', '/users', { username: randomName('u') }, await as('users:read'));
    assert.equal(noScope.status, 403);

    const failures = await waitForEvents<Event>(server, { limit: '200' }, (events) =>
      ['client.created', 'role.updated', 'user.created'].every((type) =>
        events.some((e) => e.type === type && e.outcome === 'failure'),
      ),
    );
    const created = failures.find((e) => e.type === 'client.created' && e.outcome === 'failure');
    assert.ok(created, 'the refused client registration is recorded');
    assert.equal(created.actor, ADMIN_CLIENT_ID);
    assert.equal(created.details.error, 'insufficient_scope');
    assert.deepEqual(created.details.fields, ['allowedResources']);
    const role = failures.find((e) => e.type === 'role.updated' && e.outcome === 'failure');
    assert.equal(role?.subject, boss.body.id);
    const user = failures.find((e) => e.type === 'user.created' && e.outcome === 'failure');
    assert.equal(user?.details.error, 'insufficient_scope');
    assert.equal(user?.details.fields, undefined);
    // a successful change is still recorded as one
    assert.ok(!failures.some((e) => e.outcome === 'failure' && e.details.error === undefined));
  });

  test('regression: issuing an initial access token (it registers clients) was not recorded', async () => {
    const res = await server.admin<{ initial_access_token: string }>(
      'POST',
      '/initial-access-tokens',
      { expires_in: 600 },
      await as('clients:write'),
    );
    assert.equal(res.status, 201);
    const events = await waitForEvents<Event>(server, { type: 'initial_access_token.created' });
    assert.equal(events.length, 1, JSON.stringify(events));
    assert.equal(events[0]?.actor, ADMIN_CLIENT_ID);
    // the token itself never reaches the log
    assert.ok(!JSON.stringify(events).includes(res.body.initial_access_token));
  });

  test('regression: a registration access token changed and deleted a client an admin had since allowed admin API scopes', async () => {
    // a clients:write token may hand out initial access tokens (0010, consequences)...
    const iat = await server.admin<{ initial_access_token: string }>(
      'POST',
      '/initial-access-tokens',
      {},
      await as('clients:write'),
    );
    const res = await fetch(`${server.url}/reg`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${iat.body.initial_access_token}` },
      body: JSON.stringify({ client_name: 'self-made', redirect_uris: ['https://app.example/cb'] }),
    });
    assert.equal(res.status, 201);
    const registered = (await res.json()) as Registered;
    // ...and an admin who holds users:write later lets the client ask for it
    const granted = await server.admin('PATCH', `/clients/${registered.client_id}`, {
      allowedResources: { [ADMIN]: ['users:write'] },
    });
    assert.equal(granted.status, 200);
    // the clients:write token itself may no longer touch it (0010 rule 3)...
    assert.equal(
      (await server.admin('PATCH', `/clients/${registered.client_id}`, { client_name: 'x' }, await as('clients:write')))
        .status,
      403,
    );
    // ...and neither may the registration access token it got through its initial access token
    const rat = { authorization: `Bearer ${registered.registration_access_token}` };
    const put = await fetch(registered.registration_client_uri, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', ...rat },
      body: JSON.stringify({
        client_id: registered.client_id,
        client_name: 'self-made',
        redirect_uris: ['https://attacker.example/cb'],
      }),
    });
    assert.equal(put.status, 401, await put.text());
    const del = await fetch(registered.registration_client_uri, { method: 'DELETE', headers: rat });
    assert.equal(del.status, 401);
    const now = await server.admin<{ redirect_uris: string[] }>('GET', `/clients/${registered.client_id}`);
    assert.equal(now.status, 200);
    assert.deepEqual(now.body.redirect_uris, ['https://app.example/cb']);
  });

  test('a secret an admin adds to a self-registered client ends its registration access token, so a PUT cannot drop it', async () => {
    const iat = await server.admin<{ initial_access_token: string }>('POST', '/initial-access-tokens', {});
    const res = await fetch(`${server.url}/reg`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${iat.body.initial_access_token}` },
      body: JSON.stringify({ client_name: 'self-made', redirect_uris: ['https://app.example/cb'] }),
    });
    const registered = (await res.json()) as Registered;
    const added = await server.admin('POST', `/clients/${registered.client_id}/secrets`, { name: 'admin-made' });
    assert.equal(added.status, 201);
    const rat = { authorization: `Bearer ${registered.registration_access_token}` };
    assert.equal((await fetch(registered.registration_client_uri, { headers: rat })).status, 401);
    const secrets = await server.admin<{ data: { name: string }[] }>('GET', `/clients/${registered.client_id}/secrets`);
    assert.deepEqual(secrets.body.data.map((x) => x.name).sort(), ['admin-made', 'initial']);
  });

  test('regression: clients:write let a client introspect the admin API tokens, or an API that does not exist', async () => {
    const token = await as('clients:write');
    const admin = await server.admin('POST', '/clients', { introspection_audiences: [ADMIN] }, token);
    assert.equal(admin.status, 403, JSON.stringify(admin.body));
    const mine = await server.admin<Client>('POST', '/clients', { client_name: 'rs' }, token);
    assert.equal(mine.status, 201);
    const patched = await server.admin(
      'PATCH',
      `/clients/${mine.body.client_id}`,
      { introspection_audiences: [ADMIN] },
      token,
    );
    assert.equal(patched.status, 403, JSON.stringify(patched.body));
    const unknown = await server.admin(
      'POST',
      '/clients',
      { introspection_audiences: ['https://nowhere.example'] },
      token,
    );
    assert.equal(unknown.status, 400, JSON.stringify(unknown.body));
    assert.equal((unknown.body as { details?: { field: string }[] }).details?.[0]?.field, 'introspection_audiences.0');
    // a full admin may make a client the admin API's resource server
    assert.equal((await server.admin('POST', '/clients', { introspection_audiences: [ADMIN] })).status, 201);
  });
});
