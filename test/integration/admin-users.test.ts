import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/server.ts';

type User = Record<string, unknown> & { id: string };
type ErrorBody = { error: string; details?: { field: string }[] };

describe('admin API: users', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server?.close());

  test('create, read, list, update, disable, delete; no hash ever leaves', async () => {
    const created = await server.admin<User>('POST', '/users', {
      username: 'Alice',
      email: 'Alice@Example.com',
      password: 'correct horse battery staple',
      name: 'Alice Liddell',
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.email, 'alice@example.com');
    assert.equal(created.body.has_password, true);
    assert.equal(created.body.status, 'active');
    assert.ok(!JSON.stringify(created.body).includes('argon2'));
    const id = created.body.id;

    const read = await server.admin<User>('GET', `/users/${id}`);
    assert.equal(read.body.username, 'Alice');
    // what is read uses the names the bodies take, so it can be sent back as it is
    const { name, emailVerified } = read.body;
    assert.equal(emailVerified, false);
    assert.equal((await server.admin<User>('PATCH', `/users/${id}`, { name, emailVerified })).status, 200);
    const list = await server.admin<{ data: User[] }>('GET', '/users');
    assert.ok(list.body.data.some((u) => u.id === id));

    const disabled = await server.admin<User>('PATCH', `/users/${id}`, { status: 'disabled' });
    assert.equal(disabled.body.status, 'disabled');
    assert.equal((await server.admin('DELETE', `/users/${id}`)).status, 204);
    assert.equal((await server.admin('GET', `/users/${id}`)).status, 404);
    assert.equal((await server.admin('PATCH', `/users/${id}`, { name: 'x' })).status, 404);
  });

  test('usernames are unique regardless of case; emails too: 409', async () => {
    await server.admin('POST', '/users', { username: 'bob', email: 'bob@example.com' });
    const sameName = await server.admin('POST', '/users', { username: 'BOB' });
    assert.equal(sameName.status, 409);
    const sameEmail = await server.admin('POST', '/users', { username: 'bobby', email: 'BOB@example.com' });
    assert.equal(sameEmail.status, 409);
    assert.equal((sameEmail.body as ErrorBody).error, 'conflict');
  });

  test('bad input is a 400 naming the field; weak passwords are refused', async () => {
    const cases: [unknown, string][] = [
      [{ email: 'x@example.com' }, 'username'],
      [{ username: 'has space' }, 'username'],
      [{ username: 'carol', email: 'not-an-email' }, 'email'],
      [{ username: 'carol', status: 'asleep' }, 'status'],
      [{ username: 'carol', admin: true }, 'admin'],
      [{ username: 'carol', password: 'short' }, 'password'],
      [{ username: 'carol', password: 'password123' }, 'password'],
      [{ username: 'carolcarol', password: 'carolcarol' }, 'password'],
    ];
    for (const [body, field] of cases) {
      const res = await server.admin('POST', '/users', body);
      assert.equal(res.status, 400, `${JSON.stringify(body)} -> ${JSON.stringify(res.body)}`);
      assert.ok(
        (res.body as ErrorBody).details?.some((d) => d.field === field),
        `${field} in ${JSON.stringify(res.body)}`,
      );
    }
  });

  test('lists filter by status, username prefix and email', async () => {
    await server.admin('POST', '/users', { username: 'Filter-One', email: 'one@filter.example' });
    await server.admin('POST', '/users', { username: 'filter-two', status: 'disabled' });
    await server.admin('POST', '/users', { username: 'other' });
    const names = async (query: string) =>
      (await server.admin<{ data: { username: string }[] }>('GET', `/users?${query}`)).body.data.map((u) => u.username);
    assert.deepEqual((await names('username=FILTER')).sort(), ['Filter-One', 'filter-two']);
    assert.deepEqual(await names('username=filter&status=disabled'), ['filter-two']);
    assert.deepEqual(await names('email=ONE@filter.example'), ['Filter-One']);
    assert.equal((await server.admin('GET', '/users?status=sleeping')).status, 400);
  });

  test('the users scopes guard the endpoints', async () => {
    const reader = await server.adminToken('users:read');
    assert.equal((await server.admin('GET', '/users', undefined, reader)).status, 200);
    assert.equal((await server.admin('POST', '/users', { username: 'dave' }, reader)).status, 403);
    const clientsOnly = await server.adminToken('clients:write');
    assert.equal((await server.admin('GET', '/users', undefined, clientsOnly)).status, 403);
  });
});
