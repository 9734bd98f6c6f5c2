import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { decodeJwt } from 'jose';
import { registerApi, registerService } from '../helpers/oidc.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const API = 'https://warehouse.example';
type Details = { details?: { field: string }[]; error: string };

describe('roles and permissions', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
    await registerApi(server, API, ['stock:read', 'stock:write', 'stock:admin']);
  });
  after(() => server?.close());

  const token = async (svc: { client_id: string; client_secret: string }, scope: string) =>
    server.token(svc.client_id, svc.client_secret, { grant_type: 'client_credentials', resource: API, scope });

  test('create, read, list, update and delete a role; names are unique', async () => {
    const created = await server.admin<{ id: string; name: string }>('POST', '/roles', {
      name: 'auditor',
      description: 'reads stock',
      permissions: [{ resource: API, scope: 'stock:read' }],
    });
    assert.equal(created.status, 201);
    assert.match(created.body.id, /^role_/);
    assert.equal((await server.admin('POST', '/roles', { name: 'auditor' })).status, 409);
    assert.equal((await server.admin<{ name: string }>('GET', `/roles/${created.body.id}`)).body.name, 'auditor');
    const list = await server.admin<{ data: { name: string }[] }>('GET', '/roles?name=aud');
    assert.deepEqual(
      list.body.data.map((r) => r.name),
      ['auditor'],
    );
    const patched = await server.admin<{ description: string }>('PATCH', `/roles/${created.body.id}`, {
      description: 'changed',
    });
    assert.equal(patched.body.description, 'changed');
    assert.equal((await server.admin('DELETE', `/roles/${created.body.id}`)).status, 204);
    assert.equal((await server.admin('GET', `/roles/${created.body.id}`)).status, 404);
  });

  test('bad role input is a 400 naming the field', async () => {
    const cases: [unknown, string][] = [
      [{ name: 'has space' }, 'name'],
      [{ name: 'x', permissions: [{ resource: 'not a uri', scope: 'a' }] }, 'permissions.0.resource'],
      [{ name: 'x', permissions: [{ resource: API }] }, 'permissions.0.scope'],
      [{ name: 'x', colour: 'red' }, 'colour'],
    ];
    for (const [body, field] of cases) {
      const res = await server.admin('POST', '/roles', body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.ok(
        (res.body as Details).details?.some((d) => d.field === field),
        JSON.stringify(res.body),
      );
    }
    const unknownRole = await server.admin('POST', '/clients', { roles: ['no-such-role'] });
    assert.equal(unknownRole.status, 400);
    assert.equal((unknownRole.body as Details).details?.[0]?.field, 'roles.0');
  });

  test("a service account's roles decide its scopes, and changes apply at once", async () => {
    const role = await server.admin<{ id: string }>('POST', '/roles', {
      name: 'stock-reader',
      permissions: [{ resource: API, scope: 'stock:read' }],
    });
    const svc = await registerService(server, {}, { roles: ['stock-reader'] });
    const fetched = await server.admin<{ roles: string[] }>('GET', `/clients/${svc.client_id}`);
    assert.deepEqual(fetched.body.roles, ['stock-reader']);

    assert.equal((await token(svc, 'stock:read stock:write')).body.scope, 'stock:read');

    await server.admin('PATCH', `/roles/${role.body.id}`, {
      permissions: [
        { resource: API, scope: 'stock:read' },
        { resource: API, scope: 'stock:write' },
      ],
    });
    assert.equal((await token(svc, 'stock:read stock:write')).body.scope, 'stock:read stock:write');

    await server.admin('PATCH', `/roles/${role.body.id}`, { permissions: [] });
    const none = await token(svc, 'stock:read');
    assert.equal(none.status, 400);
    assert.equal(none.body.error, 'invalid_target');

    // its own allowedResources and its roles add up
    await server.admin('PATCH', `/roles/${role.body.id}`, { permissions: [{ resource: API, scope: 'stock:admin' }] });
    await server.admin('PATCH', `/clients/${svc.client_id}`, { allowedResources: { [API]: ['stock:read'] } });
    assert.equal((await token(svc, 'stock:read stock:write stock:admin')).body.scope, 'stock:read stock:admin');

    await server.admin('PATCH', `/clients/${svc.client_id}`, { roles: [] });
    assert.equal((await token(svc, 'stock:read stock:admin')).body.scope, 'stock:read');
  });

  test('an API that asks for it gets a roles claim', async () => {
    await server.admin('POST', '/resources', {
      identifier: 'https://reports.example',
      name: 'Reports',
      scopes: ['reports:read'],
      rolesClaim: true,
    });
    await server.admin('POST', '/roles', {
      name: 'report-viewer',
      permissions: [{ resource: 'https://reports.example', scope: 'reports:read' }],
    });
    await server.admin('POST', '/roles', { name: 'unrelated', permissions: [{ resource: API, scope: 'stock:read' }] });
    const svc = await registerService(server, {}, { roles: ['report-viewer', 'unrelated'] });
    const res = await server.token(svc.client_id, svc.client_secret, {
      grant_type: 'client_credentials',
      resource: 'https://reports.example',
      scope: 'reports:read',
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const claims = decodeJwt(res.body.access_token as string);
    assert.deepEqual(claims.roles, ['report-viewer']);
    const plain = await token(svc, 'stock:read');
    assert.equal(decodeJwt(plain.body.access_token as string).roles, undefined);
  });

  test('users carry roles through the admin API', async () => {
    await server.admin('POST', '/roles', { name: 'picker', permissions: [{ resource: API, scope: 'stock:read' }] });
    const created = await server.admin<{ id: string; roles: string[] }>('POST', '/users', {
      username: 'pat',
      email: 'pat@example.com',
      password: 'a long enough passphrase',
      roles: ['picker'],
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.deepEqual(created.body.roles, ['picker']);
    const patched = await server.admin<{ roles: string[] }>('PATCH', `/users/${created.body.id}`, { roles: [] });
    assert.deepEqual(patched.body.roles, []);
    const bad = await server.admin('PATCH', `/users/${created.body.id}`, { roles: ['nope'] });
    assert.equal(bad.status, 400);
    assert.equal((bad.body as Details).details?.[0]?.field, 'roles.0');
  });
});
