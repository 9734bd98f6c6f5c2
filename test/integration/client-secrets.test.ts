import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { client, discover, registerApi, registerService } from '../helpers/oidc.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const API = 'https://secrets.example';

interface SecretView {
  id: string;
  name: string;
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  secret?: string;
}

/** Polls `check` until it returns a value (or the time is up): for what is written within seconds. */
async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 8000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) assert.fail('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** client_secret_post, as openid-client sends it */
async function tokenWithPost(server: TestServer, clientId: string, secret: string) {
  const config = await client.discovery(new URL(server.issuer), clientId, undefined, client.ClientSecretPost(secret), {
    execute: [client.allowInsecureRequests],
  });
  return client.clientCredentialsGrant(config, { resource: API, scope: 'read' });
}

async function tokenWithBasic(server: TestServer, clientId: string, secret: string) {
  const config = await discover(server, clientId, secret);
  return client.clientCredentialsGrant(config, { resource: API, scope: 'read' });
}

async function refused(promise: Promise<unknown>) {
  await assert.rejects(promise, (err: { error?: string; status?: number; cause?: unknown }) => {
    const challenge = Array.isArray(err.cause) ? (err.cause[0] as { parameters?: { error?: string } }) : undefined;
    assert.equal(err.error ?? challenge?.parameters?.error, 'invalid_client');
    return true;
  });
}

describe('several live secrets per client', () => {
  let server: TestServer;
  let service: { client_id: string; client_secret: string };

  before(async () => {
    server = await startTestServer();
    await registerApi(server, API, ['read']);
    service = await registerService(server, { [API]: ['read'] });
  });
  after(() => server?.close());

  const list = async (id = service.client_id) =>
    (await server.admin<{ data: SecretView[] }>('GET', `/clients/${id}/secrets`)).body.data;

  test('the first secret is listed, metadata only', async () => {
    const secrets = await list();
    assert.equal(secrets.length, 1);
    const [first] = secrets;
    assert.equal(first?.name, 'initial');
    assert.equal(first?.expiresAt, null);
    assert.deepEqual(Object.keys(first ?? {}).sort(), ['createdAt', 'expiresAt', 'id', 'lastUsedAt', 'name']);
    assert.ok(!JSON.stringify(secrets).includes(service.client_secret));
  });

  test('a new secret and the old one both authenticate, with Basic and in the body; lastUsedAt follows', async () => {
    const expiresAt = new Date(Date.now() + 3600_000).toISOString();
    const res = await server.admin<SecretView>('POST', `/clients/${service.client_id}/secrets`, {
      name: 'deploy 2',
      expiresAt,
    });
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const added = res.body;
    assert.match(added.secret ?? '', /^[\w-]{43}$/, '256 bits, base64url');
    assert.equal(added.name, 'deploy 2');
    assert.equal(added.expiresAt, expiresAt);

    for (const secret of [service.client_secret, added.secret as string]) {
      assert.ok((await tokenWithBasic(server, service.client_id, secret)).access_token);
      assert.ok((await tokenWithPost(server, service.client_id, secret)).access_token);
    }
    await refused(tokenWithBasic(server, service.client_id, `${added.secret}x`));

    const listed = await list();
    assert.equal(listed.length, 2);
    assert.ok(!JSON.stringify(listed).includes(added.secret as string), 'the value is shown once only');
    const used = await eventually(async () => {
      const rows = await list();
      return rows.every((r) => r.lastUsedAt !== null) ? rows : undefined;
    });
    for (const row of used) assert.ok(Date.now() - Date.parse(row.lastUsedAt as string) < 30_000);
  });

  test('a removed secret stops authenticating at once; the others go on', async () => {
    const added = (
      await server.admin<SecretView>('POST', `/clients/${service.client_id}/secrets`, { name: 'to remove' })
    ).body;
    assert.ok((await tokenWithBasic(server, service.client_id, added.secret as string)).access_token);
    const removed = await server.admin('DELETE', `/clients/${service.client_id}/secrets/${added.id}`);
    assert.equal(removed.status, 204);
    await refused(tokenWithBasic(server, service.client_id, added.secret as string));
    assert.ok((await tokenWithBasic(server, service.client_id, service.client_secret)).access_token);
    assert.equal((await server.admin('DELETE', `/clients/${service.client_id}/secrets/${added.id}`)).status, 404);
  });

  test('an expired secret is refused', async () => {
    const other = await registerService(server, { [API]: ['read'] });
    // two seconds ahead: valid when added, expired soon after
    const res = await server.admin<SecretView>('POST', `/clients/${other.client_id}/secrets`, {
      name: 'short',
      expiresAt: new Date(Date.now() + 2000).toISOString(),
    });
    assert.equal(res.status, 201);
    assert.ok((await tokenWithBasic(server, other.client_id, res.body.secret as string)).access_token);
    await eventually(async () => {
      try {
        await tokenWithBasic(server, other.client_id, res.body.secret as string);
        return undefined;
      } catch (err) {
        return (err as { error?: string }).error ?? 'invalid_client';
      }
    }, 6000);
    await refused(tokenWithBasic(server, other.client_id, res.body.secret as string));
    assert.ok((await tokenWithBasic(server, other.client_id, other.client_secret)).access_token);
  });

  test('bad input is a 400 naming the field; the cap is a 409', async () => {
    const path = `/clients/${service.client_id}/secrets`;
    const bad = [
      { name: 'past', expiresAt: new Date(Date.now() - 1000).toISOString() },
      { name: 'far', expiresAt: '9999-12-31T23:59:59Z' },
      { name: 'not a date', expiresAt: '2030-02-30T00:00:00Z' },
      { name: 'huge', expiresAt: '+275760-09-13T00:00:00.000Z' },
      { name: 'number', expiresAt: 1e308 },
      { name: 'nul\u0000' },
      { name: '' },
      { name: 'x', extra: true },
      {},
    ];
    for (const body of bad) {
      const res = await server.admin<{ error: string; details?: { field: string }[] }>('POST', path, body);
      assert.equal(res.status, 400, JSON.stringify(body));
    }
    const past = await server.admin<{ details?: { field: string }[] }>('POST', path, {
      name: 'past',
      expiresAt: '2001-01-01T00:00:00Z',
    });
    assert.equal(past.body.details?.[0]?.field, 'expiresAt');
    // at most five live: fill up, then one more is refused
    const live = (await list()).length;
    for (let i = live; i < 5; i++) assert.equal((await server.admin('POST', path, { name: `fill ${i}` })).status, 201);
    assert.equal((await server.admin('POST', path, { name: 'sixth' })).status, 409);
    assert.equal((await server.admin('GET', '/clients/nope/secrets')).status, 404);
    assert.equal((await server.admin('POST', '/clients/nope/secrets', { name: 'x' })).status, 404);
  });

  test('the single-step rotation replaces every secret with one new one', async () => {
    const before = await list();
    assert.ok(before.length > 1);
    const rotated = await server.admin<{ client_secret: string }>('POST', `/clients/${service.client_id}/secret`);
    assert.equal(rotated.status, 200);
    const after = await list();
    assert.equal(after.length, 1);
    assert.equal(after[0]?.name, 'rotated');
    await refused(tokenWithBasic(server, service.client_id, service.client_secret));
    assert.ok((await tokenWithBasic(server, service.client_id, rotated.body.client_secret)).access_token);
  });

  test('a change to the client keeps its secrets', async () => {
    const added = (await server.admin<SecretView>('POST', `/clients/${service.client_id}/secrets`, { name: 'kept' }))
      .body;
    assert.equal(
      (await server.admin('PATCH', `/clients/${service.client_id}`, { client_name: 'renamed' })).status,
      200,
    );
    assert.ok((await tokenWithBasic(server, service.client_id, added.secret as string)).access_token);
  });

  test('secrets need clients:write to add or remove, clients:read to list; events are recorded', async () => {
    const reader = await server.adminToken('clients:read');
    assert.equal((await server.admin('GET', `/clients/${service.client_id}/secrets`, undefined, reader)).status, 200);
    assert.equal(
      (await server.admin('POST', `/clients/${service.client_id}/secrets`, { name: 'no' }, reader)).status,
      403,
    );
    const events = await eventually(async () => {
      const res = await server.admin<{ data: { type: string; subject?: string }[] }>(
        'GET',
        '/events?type=client.*&limit=200',
      );
      const types = new Set(res.body.data.map((e) => e.type));
      return types.has('client.secret_added') && types.has('client.secret_removed') ? res.body.data : undefined;
    });
    assert.ok(events.some((e) => e.subject === service.client_id));
    // the built-in admin client is not a delegated admin's to add secrets to
    const writer = await server.adminToken('clients:write');
    const builtIn = await server.admin('POST', '/clients/test-admin/secrets', { name: 'takeover' }, writer);
    assert.equal(builtIn.status, 403);
  });
});
