import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { decodeJwt } from 'jose';
import { registerApi } from '../helpers/oidc.ts';
import { ADMIN_CLIENT_ID, randomName, startTestServer, type TestServer } from '../helpers/server.ts';

type ErrorBody = { error: string; error_description: string; details?: { field: string; message: string }[] };
type Client = { client_id: string; client_secret: string; allowedResources: Record<string, string[]> };
type Role = { id: string; name: string; permissions: { resource: string; scope: string }[] };

const API = 'https://orders.example';

describe('admin API delegation: no caller grants what it does not hold', () => {
  let server: TestServer;
  let ADMIN: string;
  const tokens = new Map<string, string>();
  /** a token of the bootstrap admin client with exactly these scopes */
  const as = async (scope: string) => {
    let token = tokens.get(scope);
    if (!token) {
      token = await server.adminToken(scope);
      tokens.set(scope, token);
    }
    return token;
  };
  const call = async <T = ErrorBody>(scope: string, method: string, path: string, body?: unknown) =>
    server.admin<T>(method, path, body, await as(scope));

  /** a service the admin (full power) sets up */
  const service = async (extra: Record<string, unknown> = {}) => {
    const res = await server.admin<Client>('POST', '/clients', { client_name: randomName('svc'), ...extra });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body;
  };
  const role = async (permissions: { resource: string; scope: string }[], name = randomName('role')) => {
    const res = await server.admin<Role>('POST', '/roles', { name, permissions });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body;
  };
  const adminTokenOf = (svc: Client, scope: string) =>
    server.token(svc.client_id, svc.client_secret, { grant_type: 'client_credentials', resource: ADMIN, scope });

  before(async () => {
    server = await startTestServer();
    ADMIN = `${server.issuer}/admin`;
    await registerApi(server, API, ['orders:read', 'orders:write']);
  });
  after(() => server?.close());

  test('regression: a clients:write token cannot register a client allowed the admin scope', async () => {
    const res = await call('clients:write', 'POST', '/clients', {
      client_name: 'escalator',
      allowedResources: { [ADMIN]: ['admin'] },
    });
    assert.equal(res.status, 403, JSON.stringify(res.body));
    assert.equal(res.body.error, 'insufficient_scope');
    // nor any admin scope it lacks
    const users = await call('clients:write', 'POST', '/clients', { allowedResources: { [ADMIN]: ['users:write'] } });
    assert.equal(users.status, 403);
    // what it holds it may pass on (write includes read)
    const ok = await call<Client>('clients:write', 'POST', '/clients', {
      allowedResources: { [ADMIN]: ['clients:read'], [API]: ['orders:read'] },
    });
    assert.equal(ok.status, 201, JSON.stringify(ok.body));
    const token = await adminTokenOf(ok.body, 'admin clients:read clients:write');
    assert.equal(token.status, 200, JSON.stringify(token.body));
    assert.equal(token.body.scope, 'clients:read');
  });

  test('regression: a clients:write token cannot PATCH a client to be allowed the admin scope', async () => {
    const svc = await service();
    const res = await call('clients:write', 'PATCH', `/clients/${svc.client_id}`, {
      allowedResources: { [ADMIN]: ['admin'] },
    });
    assert.equal(res.status, 403, JSON.stringify(res.body));
    assert.equal((await adminTokenOf(svc, 'admin')).status, 400);
  });

  test('regression: a clients:write token cannot rotate the secret of, change or delete the bootstrap admin client', async () => {
    for (const scope of ['clients:write', 'admin']) {
      assert.equal((await call(scope, 'POST', `/clients/${ADMIN_CLIENT_ID}/secret`)).status, 403, scope);
      assert.equal(
        (await call(scope, 'PATCH', `/clients/${ADMIN_CLIENT_ID}`, { client_name: 'mine now' })).status,
        403,
        scope,
      );
      assert.equal((await call(scope, 'DELETE', `/clients/${ADMIN_CLIENT_ID}`)).status, 403, scope);
    }
    // the operator's secret still works
    assert.ok(await server.adminToken('admin'));
  });

  test("regression: a clients:write token cannot change the built-in idp-account client's redirect URIs", async () => {
    const res = await call('clients:write', 'PATCH', '/clients/idp-account', {
      redirect_uris: ['https://attacker.example/cb'],
    });
    assert.equal(res.status, 403, JSON.stringify(res.body));
    assert.equal(res.body.error, 'forbidden');
    assert.equal((await call('admin', 'POST', '/clients/idp-account/secret')).status, 403);
    assert.equal((await call('admin', 'DELETE', '/clients/idp-account')).status, 403);
    const current = await server.admin<{ redirect_uris: string[] }>('GET', '/clients/idp-account');
    assert.deepEqual(current.body.redirect_uris, [`${server.issuer}/account/callback`]);
  });

  test('regression: a client cannot be created with the client_id of a built-in client', async () => {
    for (const id of ['idp-account', ADMIN_CLIENT_ID]) {
      const res = await server.admin('POST', '/clients', { client_id: id, client_name: 'impostor' });
      assert.ok(res.status === 409 || res.status === 403, `${id}: ${res.status}`);
    }
  });

  test('regression: a clients:write token cannot change or delete a client holding more of the admin API', async () => {
    const powerful = await service({ allowedResources: { [ADMIN]: ['users:write'] } });
    const path = `/clients/${powerful.client_id}`;
    assert.equal((await call('clients:write', 'PATCH', path, { client_name: 'x' })).status, 403);
    assert.equal((await call('clients:write', 'POST', `${path}/secret`)).status, 403);
    assert.equal((await call('clients:write', 'DELETE', path)).status, 403);
    // power through a role counts too
    const viaRole = await service({ roles: [(await role([{ resource: ADMIN, scope: 'keys:write' }])).name] });
    assert.equal((await call('clients:write', 'POST', `/clients/${viaRole.client_id}/secret`)).status, 403);
    assert.equal((await call('clients:write roles:write', 'DELETE', `/clients/${viaRole.client_id}`)).status, 403);
    // a caller holding as much may
    assert.equal((await call('clients:write users:write', 'PATCH', path, { client_name: 'y' })).status, 200);
  });

  test('regression: roles:write cannot add admin on the admin API to a role (new, or one its own client holds)', async () => {
    const created = await call('roles:write', 'POST', '/roles', {
      name: randomName('sneaky'),
      permissions: [{ resource: ADMIN, scope: 'admin' }],
    });
    assert.equal(created.status, 403, JSON.stringify(created.body));
    assert.equal(created.body.details?.[0]?.field, 'permissions.0.scope');

    // a service of its own, allowed roles:write, holding a role without admin power
    const held = await role([{ resource: API, scope: 'orders:read' }]);
    const own = await service({ allowedResources: { [ADMIN]: ['roles:write'] }, roles: [held.name] });
    const ownToken = (await adminTokenOf(own, 'roles:write')).body.access_token as string;
    const res = await server.admin(
      'PATCH',
      `/roles/${held.id}`,
      { permissions: [{ resource: ADMIN, scope: 'admin' }] },
      ownToken,
    );
    assert.equal(res.status, 403, JSON.stringify(res.body));
    const escalated = await adminTokenOf(own, 'admin');
    assert.equal(escalated.status, 400, JSON.stringify(escalated.body));
    assert.equal(escalated.body.error, 'invalid_scope');
    assert.equal(escalated.body.access_token, undefined);
    // it may still edit the role within what it holds
    const fine = await server.admin(
      'PATCH',
      `/roles/${held.id}`,
      { permissions: [{ resource: ADMIN, scope: 'roles:read' }] },
      ownToken,
    );
    assert.equal(fine.status, 200, JSON.stringify(fine.body));
  });

  test('regression: roles:write cannot add admin power to a role already assigned to a user', async () => {
    const r = await role([]);
    const user = await server.admin<{ id: string }>('POST', '/users', { username: randomName('u'), roles: [r.name] });
    assert.equal(user.status, 201);
    const res = await call('roles:write', 'PATCH', `/roles/${r.id}`, {
      permissions: [{ resource: ADMIN, scope: 'users:write' }],
    });
    assert.equal(res.status, 403);
    assert.deepEqual((await server.admin<Role>('GET', `/roles/${r.id}`)).body.permissions, []);
  });

  test('regression: clients:write alone cannot assign roles to a client', async () => {
    const r = await role([{ resource: API, scope: 'orders:write' }]);
    const created = await call('clients:write', 'POST', '/clients', { roles: [r.name] });
    assert.equal(created.status, 403, JSON.stringify(created.body));
    const svc = await service();
    const patched = await call('clients:write', 'PATCH', `/clients/${svc.client_id}`, { roles: [r.name] });
    assert.equal(patched.status, 403);
    assert.deepEqual((await server.admin<{ roles: string[] }>('GET', `/clients/${svc.client_id}`)).body.roles, []);
    // with the roles scope it may
    assert.equal(
      (await call('clients:write roles:write', 'PATCH', `/clients/${svc.client_id}`, { roles: [r.name] })).status,
      200,
    );
  });

  test('regression: clients:write roles:write cannot assign a role holding admin power to a client', async () => {
    const r = await role([{ resource: ADMIN, scope: 'admin' }]);
    const res = await call('clients:write roles:write', 'POST', '/clients', { roles: [r.name] });
    assert.equal(res.status, 403, JSON.stringify(res.body));
    const svc = await service();
    assert.equal(
      (await call('clients:write roles:write', 'PATCH', `/clients/${svc.client_id}`, { roles: [r.name] })).status,
      403,
    );
    assert.equal((await adminTokenOf(svc, 'admin')).status, 400);
  });

  test('regression: users:write cannot give a user a role with admin power, nor any role without roles:write', async () => {
    const powerful = await role([{ resource: ADMIN, scope: 'admin' }]);
    const plain = await role([{ resource: API, scope: 'orders:read' }]);
    for (const scope of ['users:write', 'users:write roles:write']) {
      const res = await call(scope, 'POST', '/users', { username: randomName('u'), roles: [powerful.name] });
      assert.equal(res.status, 403, `${scope}: ${JSON.stringify(res.body)}`);
    }
    assert.equal(
      (await call('users:write', 'POST', '/users', { username: randomName('u'), roles: [plain.name] })).status,
      403,
    );
    const user = await call<{ id: string }>('users:write', 'POST', '/users', { username: randomName('u') });
    assert.equal(user.status, 201);
    const patched = await call('users:write roles:write', 'PATCH', `/users/${user.body.id}`, {
      roles: [powerful.name],
    });
    assert.equal(patched.status, 403);
    assert.deepEqual((await server.admin<{ roles: string[] }>('GET', `/users/${user.body.id}`)).body.roles, []);
  });

  test('regression: users:write cannot take over or remove a user holding admin power', async () => {
    const powerful = await role([{ resource: ADMIN, scope: 'admin' }]);
    const user = await server.admin<{ id: string }>('POST', '/users', {
      username: randomName('boss'),
      roles: [powerful.name],
    });
    const path = `/users/${user.body.id}`;
    // a new password would let the caller sign in as the admin
    assert.equal(
      (await call('users:write', 'PATCH', path, { password: 'a-new-password-nobody-knows-42' })).status,
      403,
    );
    assert.equal((await call('users:write', 'PATCH', path, { email: 'attacker@evil.example' })).status, 403);
    assert.equal((await call('users:write roles:write', 'PATCH', path, { roles: [] })).status, 403);
    assert.equal((await call('users:write', 'DELETE', path)).status, 403);
    assert.equal((await server.admin('GET', path)).status, 200);
    assert.equal((await call('admin', 'PATCH', path, { name: 'Boss' })).status, 200);
  });

  test('regression: roles:write cannot change or delete a role holding more admin power than it', async () => {
    const powerful = await role([{ resource: ADMIN, scope: 'admin' }]);
    assert.equal(
      (await call('roles:write', 'PATCH', `/roles/${powerful.id}`, { name: randomName('renamed') })).status,
      403,
    );
    assert.equal((await call('roles:write', 'PATCH', `/roles/${powerful.id}`, { permissions: [] })).status, 403);
    assert.equal((await call('roles:write', 'DELETE', `/roles/${powerful.id}`)).status, 403);
    assert.equal((await server.admin('GET', `/roles/${powerful.id}`)).status, 200);
  });

  test('regression: a role with admin power named in another case or spelling is not assigned', async () => {
    const name = randomName('ops');
    await role([{ resource: ADMIN, scope: 'admin' }], name);
    for (const spelling of [name.toUpperCase(), ` ${name}`, `${name} `, name.normalize('NFKD').replace('o', 'ｏ')]) {
      const res = await call('clients:write roles:write', 'POST', '/clients', { roles: [spelling] });
      assert.equal(res.status, 400, `${JSON.stringify(spelling)}: ${res.status}`);
    }
  });

  test('regression: the admin API resource is built in: resources:write cannot create, change or delete it', async () => {
    const spellings = [
      ADMIN,
      `${ADMIN}/`,
      ADMIN.replace('http://', 'HTTP://'),
      ADMIN.replace('localhost', 'LOCALHOST'),
    ];
    for (const identifier of spellings) {
      const res = await call('resources:write', 'POST', '/resources', {
        identifier,
        name: 'Fake admin',
        scopes: ['admin'],
      });
      assert.equal(res.status, 409, `${identifier}: ${res.status} ${JSON.stringify(res.body)}`);
    }
    const list = await call<{ data: { id: string; identifier: string }[] }>(
      'resources:write',
      'GET',
      '/resources?limit=200',
    );
    assert.ok(!list.body.data.some((r) => r.identifier.toLowerCase().startsWith(ADMIN.toLowerCase())));
    for (const id of [ADMIN, encodeURIComponent(ADMIN), 'admin']) {
      assert.equal((await call('resources:write', 'PATCH', `/resources/${id}`, { scopes: ['x'] })).status, 404);
      assert.equal((await call('resources:write', 'DELETE', `/resources/${id}`)).status, 404);
    }
    // the admin API still answers with its own scopes
    const token = decodeJwt(await server.adminToken('admin'));
    assert.equal(token.scope, 'admin');
  });

  test('regression: roles and allowedResources naming an API or scope that does not exist are refused', async () => {
    const cases: [string, string, unknown, string][] = [
      [
        'POST',
        '/roles',
        { name: randomName('r'), permissions: [{ resource: 'https://nowhere.example', scope: 'x' }] },
        'permissions.0.resource',
      ],
      [
        'POST',
        '/roles',
        {
          name: randomName('r'),
          permissions: [
            { resource: API, scope: 'orders:read' },
            { resource: API, scope: 'orders:delete' },
          ],
        },
        'permissions.1.scope',
      ],
      [
        'POST',
        '/roles',
        { name: randomName('r'), permissions: [{ resource: ADMIN, scope: 'superuser' }] },
        'permissions.0.scope',
      ],
      [
        'POST',
        '/clients',
        { allowedResources: { 'https://nowhere.example': ['x'] } },
        'allowedResources.https://nowhere.example',
      ],
      [
        'POST',
        '/clients',
        { allowedResources: { [API]: ['orders:read', 'orders:delete'] } },
        `allowedResources.${API}.1`,
      ],
    ];
    for (const [method, path, body, field] of cases) {
      const res = await server.admin(method, path, body);
      assert.equal(res.status, 400, `${JSON.stringify(body)}: ${res.status}`);
      assert.ok(
        (res.body as ErrorBody).details?.some((d) => d.field === field),
        JSON.stringify(res.body),
      );
    }
    const r = await role([]);
    const patched = await server.admin('PATCH', `/roles/${r.id}`, { permissions: [{ resource: API, scope: 'nope' }] });
    assert.equal(patched.status, 400);
    const svc = await service();
    const badClient = await server.admin('PATCH', `/clients/${svc.client_id}`, {
      allowedResources: { 'urn:nothing': [] },
    });
    assert.equal(badClient.status, 400);
    assert.equal((badClient.body as ErrorBody).details?.[0]?.field, 'allowedResources.urn:nothing');
  });

  test('regression: shrinking or deleting an API removes it from roles and clients, and re-creating it grants nothing back', async () => {
    const identifier = `https://${randomName('shrink')}.example`;
    const api = await registerApi(server, identifier, ['a', 'b']);
    const r = await role([
      { resource: identifier, scope: 'a' },
      { resource: identifier, scope: 'b' },
      { resource: API, scope: 'orders:read' },
    ]);
    const svc = await service({ allowedResources: { [identifier]: ['a', 'b'], [API]: ['orders:read'] } });

    assert.equal((await server.admin('PATCH', `/resources/${api.id}`, { scopes: ['a'] })).status, 200);
    assert.deepEqual((await server.admin<Role>('GET', `/roles/${r.id}`)).body.permissions, [
      { resource: identifier, scope: 'a' },
      { resource: API, scope: 'orders:read' },
    ]);
    assert.deepEqual((await server.admin<Client>('GET', `/clients/${svc.client_id}`)).body.allowedResources, {
      [identifier]: ['a'],
      [API]: ['orders:read'],
    });

    assert.equal((await server.admin('DELETE', `/resources/${api.id}`)).status, 204);
    assert.deepEqual((await server.admin<Role>('GET', `/roles/${r.id}`)).body.permissions, [
      { resource: API, scope: 'orders:read' },
    ]);
    assert.deepEqual((await server.admin<Client>('GET', `/clients/${svc.client_id}`)).body.allowedResources, {
      [API]: ['orders:read'],
    });
    await registerApi(server, identifier, ['a', 'b']);
    const token = await server.token(svc.client_id, svc.client_secret, {
      grant_type: 'client_credentials',
      resource: identifier,
      scope: 'a b',
    });
    assert.equal(token.status, 400, JSON.stringify(token.body));
  });

  test('an initial access token needs clients:write, and what it registers clients that get nothing on the admin API', async () => {
    // the route needs clients:write and nothing of the admin API can be asked for by what it registers:
    // self-registered clients start with no allowed APIs and no roles (src/services/clients.ts saveRegistered)
    const res = await call('clients:read', 'POST', '/initial-access-tokens', {});
    assert.equal(res.status, 403);
  });
});
