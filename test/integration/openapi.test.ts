import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import { startTestServer, type TestServer } from '../helpers/server.ts';

type Doc = {
  openapi: string;
  paths: Record<
    string,
    Record<string, { security?: { adminToken: string[] }[]; requestBody?: unknown; parameters?: { name: string }[] }>
  >;
};

describe('OpenAPI document', () => {
  let server: TestServer;
  let doc: Doc;
  before(async () => {
    server = await startTestServer();
    const res = await fetch(`${server.url}/admin/openapi.json`);
    assert.equal(res.status, 200);
    doc = (await res.json()) as Doc;
  });
  after(() => server?.close());

  test('is a valid OpenAPI 3.1 document', async () => {
    const result = await new Validator().validate(doc as never);
    assert.equal(result.valid, true, JSON.stringify(result.errors, null, 2));
    assert.equal(doc.openapi, '3.1.0');
  });

  test('describes every admin route with its scope and its request schema', () => {
    for (const [path, method] of [
      ['/admin/clients', 'post'],
      ['/admin/clients', 'get'],
      ['/admin/clients/{id}', 'patch'],
      ['/admin/clients/{id}/secret', 'post'],
      ['/admin/resources', 'post'],
      ['/admin/users', 'post'],
      ['/admin/roles/{id}', 'delete'],
      ['/admin/keys/rotate', 'post'],
    ] as const) {
      assert.ok(doc.paths[path]?.[method], `${method} ${path}`);
    }
    assert.deepEqual(doc.paths['/admin/clients']?.post?.security, [{ adminToken: ['clients:write'] }]);
    const body = JSON.stringify(doc.paths['/admin/resources']?.post?.requestBody);
    for (const field of ['identifier', 'scopes', 'accessTokenTtl', 'rolesClaim'])
      assert.ok(body.includes(field), field);
    assert.ok(body.includes('"additionalProperties":false'), 'unknown fields are refused, and the document says so');
    assert.deepEqual(
      doc.paths['/admin/clients']?.get?.parameters?.map((p) => p.name),
      ['limit', 'after', 'client_name'],
    );
  });

  test('the document follows the routes: a route that exists is described, and nothing else', async () => {
    const token = await server.adminToken();
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const method of Object.keys(methods)) {
        const url = `${server.url}${path.replace(/\{\w+\}/g, 'does-not-exist')}`;
        const res = await fetch(url, { method: method.toUpperCase(), headers: { authorization: `Bearer ${token}` } });
        assert.notEqual(res.status, 405, `${method} ${path} is served`);
        assert.ok(res.status < 500, `${method} ${path}: ${res.status}`);
      }
    }
  });
});
