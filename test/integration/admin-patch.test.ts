import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { registerApi } from '../helpers/oidc.ts';
import { randomName, startTestServer, type TestServer } from '../helpers/server.ts';

type Role = {
  id: string;
  name: string;
  description: string | null;
  permissions: { resource: string; scope: string }[];
};
type Resource = { id: string; name: string; scopes: string[]; accessTokenTtl: number; rolesClaim: boolean };
type User = { id: string; email: string | null; emailVerified: boolean; name: string | null; status: string };

const API = 'https://patch.example';

// A PATCH changes the fields it names and nothing else (RFC 7396 §1: members not named are left as they are).
describe('admin PATCH changes only the fields it names', () => {
  let server: TestServer;

  before(async () => {
    server = await startTestServer();
    await registerApi(server, API, ['a', 'b']);
  });
  after(() => server?.close());

  test('regression: renaming a role by PATCH emptied its permissions', async () => {
    const permissions = [{ resource: API, scope: 'a' }];
    const created = await server.admin<Role>('POST', '/roles', {
      name: randomName('role'),
      description: 'reads',
      permissions,
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));

    const name = randomName('renamed');
    const renamed = await server.admin<Role>('PATCH', `/roles/${created.body.id}`, { name });
    assert.equal(renamed.status, 200, JSON.stringify(renamed.body));
    assert.deepEqual(renamed.body.permissions, permissions);
    assert.equal(renamed.body.description, 'reads');
    assert.equal(renamed.body.name, name);
    assert.deepEqual((await server.admin<Role>('GET', `/roles/${created.body.id}`)).body.permissions, permissions);

    // a description set to null is cleared; the permissions still stay
    const cleared = await server.admin<Role>('PATCH', `/roles/${created.body.id}`, { description: null });
    assert.equal(cleared.status, 200, JSON.stringify(cleared.body));
    assert.equal(cleared.body.description, null);
    assert.deepEqual(cleared.body.permissions, permissions);

    // an empty list given on purpose does empty them
    const emptied = await server.admin<Role>('PATCH', `/roles/${created.body.id}`, { permissions: [] });
    assert.deepEqual(emptied.body.permissions, []);
  });

  test('a role PATCH naming no field, or a field as null that cannot be null, is a 400', async () => {
    const created = await server.admin<Role>('POST', '/roles', { name: randomName('role') });
    assert.equal((await server.admin('PATCH', `/roles/${created.body.id}`, {})).status, 400);
    assert.equal((await server.admin('PATCH', `/roles/${created.body.id}`, { permissions: null })).status, 400);
    assert.equal((await server.admin('PATCH', `/roles/${created.body.id}`, { name: null })).status, 400);
  });

  test('renaming an API keeps its scopes, token lifetime and roles claim', async () => {
    const identifier = `https://${randomName('api')}.example`;
    const created = await server.admin<Resource>('POST', '/resources', {
      identifier,
      name: 'before',
      scopes: ['x', 'y'],
      accessTokenTtl: 900,
      rolesClaim: true,
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const renamed = await server.admin<Resource>('PATCH', `/resources/${created.body.id}`, { name: 'after' });
    assert.equal(renamed.status, 200, JSON.stringify(renamed.body));
    assert.deepEqual(
      {
        name: renamed.body.name,
        scopes: renamed.body.scopes,
        ttl: renamed.body.accessTokenTtl,
        roles: renamed.body.rolesClaim,
      },
      { name: 'after', scopes: ['x', 'y'], ttl: 900, roles: true },
    );
  });

  test('a user PATCH of one field keeps the others, and a new user gets the stored defaults', async () => {
    const created = await server.admin<User>('POST', '/users', {
      username: randomName('pat'),
      email: `${randomName('pat')}@example.com`,
      emailVerified: true,
      name: 'Pat',
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.status, 'active');
    const patched = await server.admin<User>('PATCH', `/users/${created.body.id}`, { name: 'Patricia' });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    assert.deepEqual(
      {
        email: patched.body.email,
        verified: patched.body.emailVerified,
        name: patched.body.name,
        status: patched.body.status,
      },
      { email: created.body.email, verified: true, name: 'Patricia', status: 'active' },
    );

    const bare = await server.admin<User>('POST', '/users', { username: randomName('bare') });
    assert.equal(bare.status, 201, JSON.stringify(bare.body));
    assert.deepEqual(
      { email: bare.body.email, verified: bare.body.emailVerified, name: bare.body.name, status: bare.body.status },
      { email: null, verified: false, name: null, status: 'active' },
    );
  });
});
