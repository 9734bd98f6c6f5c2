import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/server.ts';

describe('GET /', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.close());

  test('a browser is sent to the account page', async () => {
    const res = await fetch(`${server.url}/`, {
      headers: { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' },
      redirect: 'manual',
    });
    assert.equal(res.status, 302);
    assert.equal(res.headers.get('location'), `${server.issuer}/account`);
    assert.match(res.headers.get('vary') ?? '', /accept/i);
  });

  test('a program gets the issuer, the discovery document and the references', async () => {
    for (const accept of ['*/*', 'application/json', undefined]) {
      const res = await fetch(`${server.url}/`, { headers: accept ? { accept } : {}, redirect: 'manual' });
      assert.equal(res.status, 200, String(accept));
      assert.deepEqual(await res.json(), {
        issuer: server.issuer,
        discovery: `${server.issuer}/.well-known/openid-configuration`,
        account: `${server.issuer}/account`,
        admin_api: `${server.issuer}/admin/openapi.json`,
        docs: `${server.issuer}/admin/docs`,
      });
    }
    const discovery = await fetch(`${server.issuer}/.well-known/openid-configuration`);
    assert.equal(discovery.status, 200);
  });

  test('other spellings of the root are not it (one spelling per path)', async () => {
    for (const path of ['//', '/%2F', '/%2f']) {
      const res = await fetch(`${server.url}${path}`, { redirect: 'manual' });
      assert.notEqual(res.status, 302, path);
      assert.ok(res.status === 404 || res.status === 400, `${path}: ${res.status}`);
    }
  });
});
