import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createUser, registerWebClient, startSignIn } from '../helpers/form-signin.ts';
import { registerService } from '../helpers/oidc.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

/**
 * Text PostgreSQL cannot store (U+0000), strings that are not Unicode (lone surrogates),
 * malformed percent-encoding, and numbers and dates out of the database's range: each is
 * refused at the edge with a 400, never a 500 (on PostgreSQL and on the embedded database).
 */
describe('bad input is a 400 at the edge', () => {
  let server: TestServer;
  let web: { clientId: string; clientSecret: string; redirectUri: string };
  let service: { client_id: string; client_secret: string };

  before(async () => {
    server = await startTestServer({ env: { REGISTRATION_ENABLED: 'true' } });
    web = await registerWebClient(server);
    service = await registerService(server, {});
    await createUser(server, 'bad-input-user', 'correct horse battery staple');
  });
  after(() => server?.close());

  const form = (fields: Record<string, string>) => ({
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
  });

  const oauthError = async (res: Response, what: string) => {
    assert.equal(res.status, 400, what);
    assert.match(res.headers.get('content-type') ?? '', /application\/json/, what);
    const body = (await res.json()) as { error: string; error_description: string };
    assert.equal(body.error, 'invalid_request', what);
    assert.ok(body.error_description.length > 0, what);
    return body;
  };

  test('regression: a NUL byte in client_id at /token is a 400 invalid_request, not a 500', async () => {
    const res = await fetch(
      `${server.url}/token`,
      form({ grant_type: 'client_credentials', client_id: 'a\u0000b', client_secret: 'x' }),
    );
    const body = await oauthError(res, '/token');
    assert.match(body.error_description, /client_id/);
  });

  test('regression: a NUL byte in client_id or state at /auth is a 400, not a 500', async () => {
    for (const [name, value] of [
      ['client_id', 'a\u0000b'],
      ['state', 'x\u0000y'],
    ] as const) {
      const params = new URLSearchParams({
        response_type: 'code',
        client_id: web.clientId,
        redirect_uri: web.redirectUri,
        scope: 'openid',
        code_challenge: 'x'.repeat(43),
        code_challenge_method: 'S256',
        [name]: value,
      });
      const res = await fetch(`${server.url}/auth?${params}`, {
        redirect: 'manual',
        headers: { accept: 'application/json' },
      });
      await oauthError(res, name);
    }
  });

  test('regression: a browser sending a NUL byte to /auth gets a 400 page', async () => {
    const res = await fetch(`${server.url}/auth?client_id=a%00b&response_type=code`, {
      redirect: 'manual',
      headers: { accept: 'text/html' },
    });
    assert.equal(res.status, 400);
    assert.match(res.headers.get('content-type') ?? '', /text\/html/);
    assert.ok(res.headers.get('content-security-policy'));
    await res.text();
  });

  test('regression: a NUL byte in client_id at /session/end is a 400, not a 500', async () => {
    const res = await fetch(`${server.url}/session/end?client_id=a%00b`, { headers: { accept: 'application/json' } });
    await oauthError(res, '/session/end');
    const posted = await fetch(`${server.url}/session/end`, { ...form({ client_id: 'a\u0000b' }), redirect: 'manual' });
    assert.equal(posted.status, 400);
    await posted.arrayBuffer();
  });

  test('regression: a NUL byte in token at /token/introspection is a 400, not a 500', async () => {
    const res = await fetch(`${server.url}/token/introspection`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${service.client_id}:${service.client_secret}`).toString('base64')}`,
      },
      body: new URLSearchParams({ token: 'abc\u0000def' }).toString(),
    });
    const body = await oauthError(res, 'introspection');
    assert.match(body.error_description, /token/);
  });

  test('regression: a NUL byte in the sign-in form username is a 400 page, not a 500', async () => {
    const interaction = await startSignIn(server, web);
    const res = await fetch(`${server.url}/interaction/${interaction.uid}/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: interaction.jar.header(), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrf: interaction.csrf, username: 'bad-input-user\u0000', password: 'x' }),
    });
    assert.equal(res.status, 400);
    assert.match(res.headers.get('content-type') ?? '', /text\/html/);
    assert.match(await res.text(), /<html/);
  });

  test('regression: a NUL byte in admin filters and path ids is a 400, not a 500', async () => {
    for (const path of [
      '/events?subject=a%00b',
      '/events?client_id=a%00b',
      '/clients/%00',
      '/users/a%00b',
      '/roles/%00',
      '/resources/%00',
    ]) {
      const res = await server.admin('GET', path);
      assert.equal(res.status, 400, `${path}: ${JSON.stringify(res.body)}`);
      assert.equal((res.body as { error: string }).error, 'invalid_request', path);
    }
  });

  test('regression: a NUL byte or a lone surrogate in a JSON field is a 400, not a 500', async () => {
    for (const raw of [
      '{"client_name":"a\\u0000b","redirect_uris":["https://app.example/cb"]}',
      '{"client_name":"a\\ud800b","redirect_uris":["https://app.example/cb"]}',
      '{"client_name":"ok","redirect_uris":["https://app.example/cb"],"x\\u0000":1}',
      '{"client_name":"a\\udc00","redirect_uris":["https://app.example/cb"]}',
    ]) {
      const res = await server.admin('POST', '/clients', raw);
      assert.equal(res.status, 400, `${raw}: ${JSON.stringify(res.body)}`);
      assert.equal((res.body as { error: string }).error, 'invalid_request', raw);
    }
    for (const raw of ['{"username":"u\\u0000","password":"correct horse battery staple"}']) {
      const res = await server.admin('POST', '/users', raw);
      assert.equal(res.status, 400, raw);
    }
    // a well-formed pair of surrogates is an ordinary character
    const ok = await server.admin('POST', '/clients', {
      client_name: 'emoji \ud83d\ude00',
      redirect_uris: ['https://app.example/cb'],
    });
    assert.equal(ok.status, 201, JSON.stringify(ok.body));
  });

  test('regression: a NUL byte in /reg client metadata is a 400, not a 500', async () => {
    const res = await fetch(`${server.url}/reg`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"redirect_uris":["https://app.example/cb"],"client_name":"a\\u0000"}',
    });
    await oauthError(res, '/reg');
  });

  test('regression: an events cursor that overflows bigint is a 400, not a 500', async () => {
    for (const cursor of [
      Buffer.from('2024-01-01T00:00:00.000Z|99999999999999999999').toString('base64url'),
      Buffer.from('2024-01-01T00:00:00.000Z|9999999999999999999').toString('base64url'),
      Buffer.from('2024-13-45T00:00:00.000Z|1').toString('base64url'),
      Buffer.from('0000-01-01T00:00:00.000Z|1').toString('base64url'),
    ]) {
      const res = await server.admin('GET', `/events?after=${cursor}`);
      assert.equal(res.status, 400, `${cursor}: ${JSON.stringify(res.body)}`);
    }
    // the largest bigint is still a cursor
    const max = Buffer.from('2024-01-01T00:00:00.000Z|9223372036854775807').toString('base64url');
    assert.equal((await server.admin('GET', `/events?after=${max}`)).status, 200);
  });

  test('regression: since=0000-01-01T00:00:00Z and other out-of-range times and numbers are a 400, not a 500', async () => {
    for (const query of [
      'since=0000-01-01T00:00:00Z',
      'until=0000-01-01T00:00:00Z',
      'since=9999-12-31T23:59:59-14:00',
      'since=2024-02-30T00:00:00Z',
      'limit=1e309',
      'limit=99999999999999999999999',
      'limit=-0',
    ]) {
      const res = await server.admin('GET', `/events?${query}`);
      assert.equal(res.status, 400, `${query}: ${JSON.stringify(res.body)}`);
    }
    assert.equal(
      (await server.admin('GET', '/events?since=1970-01-01T00:00:00Z&until=9999-12-31T00:00:00Z')).status,
      200,
    );
  });

  test('regression: malformed percent-encoding in a path or query is a 400, not a 500', async () => {
    for (const path of ['/auth?client_id=%zz', '/token?x=%', '/admin/clients/%E0%A4%A', '/interaction/%C0%80']) {
      const res = await fetch(`${server.url}${path}`, { headers: { accept: 'application/json' } });
      assert.equal(res.status, 400, path);
      await res.arrayBuffer();
    }
  });

  test('regression: a NUL byte cannot arrive in a header (Node refuses it before we see it)', async () => {
    const { connect } = await import('node:net');
    const url = new URL(server.url);
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(url.port), '127.0.0.1', () => {
        socket.write(`GET /healthz HTTP/1.1\r\nHost: localhost\r\nUser-Agent: a\u0000b\r\nConnection: close\r\n\r\n`);
      });
      let text = '';
      socket.on('data', (c) => {
        text += c;
      });
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    assert.match(reply, /^HTTP\/1\.1 400/);
  });

  test('the server still answers normally afterwards', async () => {
    const issued = await server.token(service.client_id, service.client_secret, { grant_type: 'client_credentials' });
    assert.ok(issued.status < 500);
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
  });
});
