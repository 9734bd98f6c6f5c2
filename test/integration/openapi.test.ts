import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import formats from 'ajv-formats';
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

type Operation = {
  operationId: string;
  responses: Record<string, { content?: { 'application/json'?: { schema?: { $ref?: string } } } }>;
};
type FullDoc = { paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, unknown> } };

/**
 * Calls the admin API and checks the answer against the document: the status must be one the
 * operation lists, and the body must match the schema documented for that status (no body for
 * a 204). Records which operations answered with success.
 */
function documentedClient(server: TestServer, doc: FullDoc) {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  formats.default(ajv);
  ajv.addSchema(doc as object, 'openapi.json');
  const templates = Object.keys(doc.paths).map((template) => ({
    template,
    pattern: new RegExp(`^${template.replace(/\{\w+\}/g, '[^/]+')}$`),
  }));
  const succeeded = new Set<string>();
  const seen: string[] = [];
  return {
    succeeded,
    seen,
    async call(
      method: string,
      path: string,
      options: { body?: unknown; token?: string; headers?: Record<string, string> } = {},
    ) {
      const pathOnly = path.split('?')[0] ?? path;
      const template = templates.find((t) => t.pattern.test(pathOnly))?.template;
      assert.ok(template, `${path} is documented`);
      const op = doc.paths[template]?.[method.toLowerCase()];
      assert.ok(op, `${method} ${template} is documented`);
      const res = await fetch(`${server.url}${path}`, {
        method,
        headers: {
          ...(options.token === '' ? {} : { authorization: `Bearer ${options.token ?? (await server.adminToken())}` }),
          ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
          ...options.headers,
        },
        ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
      });
      const text = await res.text();
      const where = `${method} ${path} → ${res.status}`;
      const documented = op.responses[String(res.status)];
      assert.ok(documented, `${where}: status not documented (${text})`);
      const schema = documented.content?.['application/json']?.schema;
      let body: unknown;
      if (schema?.$ref) {
        body = JSON.parse(text);
        const validate = ajv.getSchema(`openapi.json${schema.$ref}`);
        assert.ok(validate, `${where}: ${schema.$ref} resolves`);
        assert.ok(validate(body), `${where}: ${JSON.stringify(validate.errors)} in ${text}`);
      } else {
        assert.ok(schema === undefined, `${where}: an inline schema (use a component)`);
        assert.equal(text, '', `${where}: documented without a body`);
      }
      seen.push(`${res.status} ${method.toLowerCase()} ${template}`);
      if (res.ok) succeeded.add(`${method.toLowerCase()} ${template}`);
      return {
        status: res.status,
        headers: res.headers,
        body: body as Record<string, unknown> & { data: Record<string, unknown>[]; next?: string },
      };
    },
  };
}

describe('OpenAPI document: responses', () => {
  let server: TestServer;
  let doc: FullDoc;
  before(async () => {
    server = await startTestServer({ env: { REGISTRATION_ENABLED: 'true' } });
    doc = (await (await fetch(`${server.url}/admin/openapi.json`)).json()) as FullDoc;
  });
  after(() => server?.close());

  test('no response body is described as a bare object: every one has a named schema', () => {
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(methods)) {
        for (const [status, response] of Object.entries(op.responses)) {
          if (status === '204') continue;
          const ref = response.content?.['application/json']?.schema?.$ref;
          assert.ok(
            ref && doc.components.schemas[ref.replace('#/components/schemas/', '')],
            `${method} ${path} ${status}`,
          );
        }
      }
    }
  });

  test('every operation answers with what the document describes, successes and errors alike', async () => {
    const api = documentedClient(server, doc);
    const suffix = randomBytes(4).toString('hex');

    // APIs
    const resource = await api.call('POST', '/admin/resources', {
      body: { identifier: `https://api-${suffix}.example`, name: 'Orders', scopes: ['orders:read'] },
    });
    assert.equal(resource.status, 201);
    const rid = String(resource.body.id);
    await api.call('GET', '/admin/resources?limit=1');
    await api.call('GET', `/admin/resources/${rid}`);
    await api.call('PATCH', `/admin/resources/${rid}`, { body: { name: 'Orders API' } });
    // the errors: bad input with details, a conflict, a stale If-Match, not found
    const bad = await api.call('POST', '/admin/resources', { body: { identifier: 'not a uri', name: '' } });
    assert.equal(bad.status, 400);
    assert.ok(Array.isArray(bad.body.details) && bad.body.details.length > 0);
    assert.equal(
      (await api.call('POST', '/admin/resources', { body: { identifier: `https://api-${suffix}.example`, name: 'x' } }))
        .status,
      409,
    );
    assert.equal(
      (
        await api.call('PATCH', `/admin/resources/${rid}`, {
          body: { name: 'stale' },
          headers: { 'if-match': 'W/"1"' },
        })
      ).status,
      412,
    );
    assert.equal((await api.call('GET', '/admin/resources/does-not-exist')).status, 404);

    // roles
    const role = await api.call('POST', '/admin/roles', {
      body: {
        name: `clerk-${suffix}`,
        permissions: [{ resource: `https://api-${suffix}.example`, scope: 'orders:read' }],
      },
    });
    assert.equal(role.status, 201);
    const roleId = String(role.body.id);
    await api.call('GET', '/admin/roles');
    await api.call('GET', `/admin/roles/${roleId}`);
    await api.call('PATCH', `/admin/roles/${roleId}`, { body: { description: 'reads orders' } });

    // clients: the secret only when one is made
    const confidential = await api.call('POST', '/admin/clients', {
      body: { client_name: 'Service', allowedResources: { [`https://api-${suffix}.example`]: ['orders:read'] } },
    });
    assert.equal(typeof confidential.body.client_secret, 'string');
    const cid = String(confidential.body.client_id);
    const publicClient = await api.call('POST', '/admin/clients', {
      body: {
        client_name: 'App',
        redirect_uris: ['https://app.example/cb'],
        token_endpoint_auth_method: 'none',
        roles: [`clerk-${suffix}`],
      },
    });
    assert.equal(publicClient.body.client_secret, undefined);
    const list = await api.call('GET', '/admin/clients?limit=2');
    assert.ok(
      list.body.data.every((c) => !('client_secret' in c)),
      'no secret in a list',
    );
    assert.ok(!('client_secret' in (await api.call('GET', `/admin/clients/${cid}`)).body), 'no secret when read');
    await api.call('PATCH', `/admin/clients/${cid}`, { body: { client_name: 'Service 2' } });
    const rotated = await api.call('POST', `/admin/clients/${cid}/secret`);
    assert.equal(typeof rotated.body.client_secret, 'string');
    // several secrets at once
    const added = await api.call('POST', `/admin/clients/${cid}/secrets`, {
      body: { name: 'second', expiresAt: new Date(Date.now() + 86_400_000).toISOString() },
    });
    assert.equal(added.status, 201);
    assert.equal(typeof added.body.secret, 'string');
    assert.ok(
      !JSON.stringify((await api.call('GET', `/admin/clients/${cid}/secrets`)).body).includes(
        String(added.body.secret),
      ),
    );
    assert.equal((await api.call('DELETE', `/admin/clients/${cid}/secrets/${added.body.id}`)).status, 204);
    // workload identity: an issuer, and a subject bound to the client
    const issuer = `https://issuer-${suffix}.example`;
    const federated = await api.call('POST', '/admin/federated-issuers', {
      body: { issuer, jwksUri: `${issuer}/jwks`, audience: 'https://idp.example' },
    });
    assert.equal(federated.status, 201);
    const iid = String(federated.body.id);
    await api.call('GET', '/admin/federated-issuers');
    await api.call('GET', `/admin/federated-issuers/${iid}`);
    await api.call('PATCH', `/admin/federated-issuers/${iid}`, { body: { audience: 'https://idp2.example' } });
    await api.call('PATCH', `/admin/clients/${cid}`, {
      body: { federatedSubjects: [{ issuer, subject: 'repo:acme/shop:ref:refs/heads/main' }] },
    });
    assert.equal((await api.call('DELETE', `/admin/federated-issuers/${iid}`)).status, 204);
    // a token without the scope, and none at all
    const readOnly = await server.adminToken('clients:read');
    assert.equal((await api.call('POST', `/admin/clients/${cid}/secret`, { token: readOnly })).status, 403);
    assert.equal((await api.call('GET', '/admin/clients', { token: '' })).status, 401);

    // users, their passkeys, their lockouts
    const user = await api.call('POST', '/admin/users', {
      body: {
        username: `ada-${suffix}`,
        email: `ada-${suffix}@example.com`,
        password: 'correct horse battery staple',
        roles: [`clerk-${suffix}`],
      },
    });
    assert.equal(user.status, 201);
    const uid = String(user.body.id);
    await api.call('GET', `/admin/users?username=ada-${suffix}`);
    await api.call('GET', `/admin/users/${uid}`);
    await api.call('PATCH', `/admin/users/${uid}`, { body: { name: 'Ada Lovelace' } });
    await api.call('POST', `/admin/users/${uid}/unlock`);
    assert.equal((await api.call('POST', `/admin/users/${uid}/password-reset`)).status, 202);
    await api.call('GET', `/admin/users/${uid}/passkeys`);
    await api.call('DELETE', `/admin/users/${uid}/mfa`);
    assert.equal((await api.call('DELETE', '/admin/users/does-not-exist/mfa')).status, 404);
    // a passkey needs a browser to exist: its removal is checked on the error path
    assert.equal((await api.call('DELETE', `/admin/users/${uid}/passkeys/does-not-exist`)).status, 404);
    // sessions: a bare list (the contract's shape); ending one needs a browser's (test/integration/sessions.test.ts)
    await api.call('GET', `/admin/users/${uid}/sessions`);
    assert.equal((await api.call('DELETE', `/admin/users/${uid}/sessions/does-not-exist`)).status, 404);
    await api.call('DELETE', `/admin/users/${uid}/sessions`);

    // events (a cursor page), keys, registration tokens
    const events = await api.call('GET', '/admin/events?limit=1');
    assert.equal(typeof events.body.next, 'string');
    await api.call('GET', `/admin/events?limit=1&after=${events.body.next}`);
    await api.call('GET', '/admin/events/activity?window=day');
    assert.equal((await api.call('GET', '/admin/events?since=yesterday')).status, 400);
    await api.call('GET', '/admin/keys');
    await api.call('POST', '/admin/keys/rotate');
    await api.call('POST', '/admin/initial-access-tokens', { body: { uses: 2 } });

    // deletions
    for (const path of [
      `/admin/clients/${cid}`,
      `/admin/users/${uid}`,
      `/admin/roles/${roleId}`,
      `/admin/resources/${rid}`,
    ]) {
      assert.equal((await api.call('DELETE', path)).status, 204);
    }

    const all = Object.entries(doc.paths).flatMap(([path, methods]) => Object.keys(methods).map((m) => `${m} ${path}`));
    const untried = all.filter(
      (op) =>
        !api.succeeded.has(op) &&
        op !== 'delete /admin/users/{id}/passkeys/{passkeyId}' &&
        op !== 'delete /admin/users/{id}/sessions/{sessionId}',
    );
    assert.deepEqual(untried, [], 'every operation answered with success once');
  });

  test('GET /admin/docs: a reference page of every operation, under the strict CSP, with nothing from elsewhere', async () => {
    const res = await fetch(`${server.url}/admin/docs`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
    const csp = res.headers.get('content-security-policy') ?? '';
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self' 'nonce-/);
    assert.match(csp, /style-src 'self'(;|$)/);
    assert.equal(res.headers.get('x-frame-options'), 'DENY');
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    const page = await res.text();
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(methods)) {
        assert.ok(page.includes(`id="${op.operationId}"`), `${method} ${path} has an anchor`);
        assert.ok(page.includes(`href="#${op.operationId}"`), `${method} ${path} is in the table of contents`);
      }
    }
    for (const name of Object.keys(doc.components.schemas)) assert.ok(page.includes(`id="schema-${name}"`), name);
    // nothing loaded from another origin, no inline script or style (the CSP would block them)
    const urls = [...page.matchAll(/\b(?:src|href)\s*=\s*"([^"]*)"/g)].map((m) => m[1] ?? '');
    assert.ok(urls.length > 0);
    for (const url of urls) assert.match(url, /^(#|\/(?!\/))/, `${url} is on this server`);
    assert.doesNotMatch(page, /<script|\sstyle=|<style|@import|url\(/i);
    // its stylesheet is there, under the static files
    const css = await fetch(`${server.url}/static/admin-docs/docs.css`);
    assert.equal(css.status, 200);
    assert.match(await css.text(), /system-ui/);
  });
});
