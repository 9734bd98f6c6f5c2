import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { randomName, startTestServer, type TestServer } from '../helpers/server.ts';

const API = 'https://concurrency.example';
const PARALLEL = 5;

describe('admin API: If-Match under concurrency', () => {
  let server: TestServer;
  let token: string;
  before(async () => {
    server = await startTestServer();
    token = await server.adminToken();
    const api = await server.admin('POST', '/resources', { identifier: API, name: 'C', scopes: ['a', 'b', 'c'] });
    assert.equal(api.status, 201);
  });
  after(() => server?.close());

  const send = async (method: string, path: string, etag: string, body?: unknown) => {
    const res = await fetch(`${server.url}/admin${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        'if-match': etag,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    await res.arrayBuffer();
    return res.status;
  };

  /** five writes with the same ETag at once: exactly one may win, the others get 412 */
  const race = async (path: string, bodies: (i: number) => unknown, method = 'PATCH') => {
    const read = await server.admin('GET', path);
    assert.equal(read.status, 200);
    const etag = read.headers.get('etag') as string;
    const statuses = await Promise.all(Array.from({ length: PARALLEL }, (_, i) => send(method, path, etag, bodies(i))));
    const won = statuses.filter((s) => s >= 200 && s < 300).length;
    assert.equal(won, 1, `statuses: ${statuses.join(', ')}`);
    // a DELETE that lost may find the row already gone
    const allowed = method === 'DELETE' ? [412, 404] : [412];
    assert.ok(
      statuses.every((s) => (s >= 200 && s < 300) || allowed.includes(s)),
      `statuses: ${statuses.join(', ')}`,
    );
    return statuses;
  };

  test('regression: five concurrent PATCHes of a client with one ETag all succeeded (lost updates)', async () => {
    const created = await server.admin<{ client_id: string }>('POST', '/clients', { client_name: 'c0' });
    const path = `/clients/${created.body.client_id}`;
    const statuses = await race(path, (i) => ({ client_name: `c${i + 1}` }));
    const winner = statuses.indexOf(200);
    assert.equal((await server.admin<{ client_name: string }>('GET', path)).body.client_name, `c${winner + 1}`);
  });

  test('regression: concurrent PATCHes of roles on a client with one ETag all succeeded', async () => {
    for (const n of [0, 1, 2, 3, 4]) {
      await server.admin('POST', '/roles', { name: `race-role-${n}`, permissions: [{ resource: API, scope: 'a' }] });
    }
    const created = await server.admin<{ client_id: string }>('POST', '/clients', { client_name: 'roles' });
    const path = `/clients/${created.body.client_id}`;
    const statuses = await race(path, (i) => ({ roles: [`race-role-${i}`] }));
    const winner = statuses.indexOf(200);
    assert.deepEqual((await server.admin<{ roles: string[] }>('GET', path)).body.roles, [`race-role-${winner}`]);
  });

  test('regression: five concurrent PATCHes of a resource with one ETag all succeeded', async () => {
    const created = await server.admin<{ id: string }>('POST', '/resources', {
      identifier: `https://${randomName('r')}.example`,
      name: 'r0',
    });
    await race(`/resources/${created.body.id}`, (i) => ({ name: `r${i + 1}` }));
  });

  test('regression: five concurrent PATCHes of a user with one ETag all succeeded', async () => {
    const created = await server.admin<{ id: string }>('POST', '/users', { username: randomName('u') });
    const path = `/users/${created.body.id}`;
    const statuses = await race(path, (i) => ({ name: `User ${i + 1}` }));
    const winner = statuses.indexOf(200);
    assert.equal((await server.admin<{ name: string }>('GET', path)).body.name, `User ${winner + 1}`);
  });

  test('regression: five concurrent PATCHes of a role with one ETag all succeeded', async () => {
    const created = await server.admin<{ id: string }>('POST', '/roles', { name: randomName('role') });
    const path = `/roles/${created.body.id}`;
    const statuses = await race(path, (i) => ({ description: `v${i + 1}` }));
    const winner = statuses.indexOf(200);
    assert.equal((await server.admin<{ description: string }>('GET', path)).body.description, `v${winner + 1}`);
  });

  test('DELETEs and PATCHes with one ETag at once: exactly one wins', async () => {
    const kinds: [string, () => Promise<string>, unknown][] = [
      [
        'clients',
        async () =>
          (await server.admin<{ client_id: string }>('POST', '/clients', { client_name: 'd' })).body.client_id,
        { client_name: 'changed' },
      ],
      [
        'resources',
        async () =>
          (
            await server.admin<{ id: string }>('POST', '/resources', {
              identifier: `https://${randomName('d')}.example`,
              name: 'd',
            })
          ).body.id,
        { name: 'changed' },
      ],
      [
        'users',
        async () => (await server.admin<{ id: string }>('POST', '/users', { username: randomName('d') })).body.id,
        { name: 'changed' },
      ],
      [
        'roles',
        async () => (await server.admin<{ id: string }>('POST', '/roles', { name: randomName('d') })).body.id,
        { description: 'changed' },
      ],
    ];
    for (const [kind, create, patch] of kinds) {
      const path = `/${kind}/${await create()}`;
      const etag = (await server.admin('GET', path)).headers.get('etag') as string;
      const statuses = await Promise.all([
        send('PATCH', path, etag, patch),
        send('DELETE', path, etag),
        send('DELETE', path, etag),
        send('PATCH', path, etag, patch),
        send('DELETE', path, etag),
      ]);
      const won = statuses.filter((s) => s >= 200 && s < 300);
      assert.equal(won.length, 1, `${kind}: ${statuses.join(', ')}`);
      assert.ok(
        statuses.every((s) => s === 200 || s === 204 || s === 412 || s === 404),
        `${kind}: ${statuses.join(', ')}`,
      );
      const after = await server.admin('GET', path);
      assert.equal(after.status, won[0] === 204 ? 404 : 200, `${kind}: ${statuses.join(', ')}`);
    }
  });

  test('five concurrent DELETEs with one ETag: one deletes, the others do not report success', async () => {
    const created = await server.admin<{ client_id: string }>('POST', '/clients', { client_name: 'gone' });
    await race(`/clients/${created.body.client_id}`, () => undefined, 'DELETE');
  });

  test('two writes within one millisecond still get different ETags', async () => {
    const created = await server.admin<{ id: string }>('POST', '/roles', { name: randomName('fast') });
    const path = `/roles/${created.body.id}`;
    let etag = (await server.admin('GET', path)).headers.get('etag') as string;
    const seen = new Set([etag]);
    for (let i = 0; i < 10; i++) {
      const res = await fetch(`${server.url}/admin${path}`, {
        method: 'PATCH',
        headers: { authorization: `Bearer ${token}`, 'if-match': etag, 'content-type': 'application/json' },
        body: JSON.stringify({ description: `d${i}` }),
      });
      assert.equal(res.status, 200);
      await res.arrayBuffer();
      etag = res.headers.get('etag') as string;
      assert.ok(!seen.has(etag), `ETag ${etag} repeated`);
      seen.add(etag);
    }
  });
});
