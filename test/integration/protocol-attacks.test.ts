import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import { createOutboundFetch, isSpecialUseAddress } from '../../src/oidc/outbound-fetch.ts';
import { registerApi, registerService } from '../helpers/oidc.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { createPki, type Pki } from '../helpers/tls.ts';

/**
 * Attacks on the protocol endpoints' hardening: what a hostile server at the other end of an
 * outbound fetch can do, and bad input at the registration endpoint.
 */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const basic = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

test('regression: failed client authentication at the PAR endpoint counts against the address, and PAR closes with the token endpoint', async () => {
  const server = await startTestServer({ env: { RATE_LIMIT_CLIENT_AUTH_FAILURES: '3', RATE_LIMIT_WINDOW: '60' } });
  try {
    const api = 'https://par-throttle.example';
    await registerApi(server, api, ['orders:read']);
    const svc = await registerService(server, { [api]: ['orders:read'] });
    const par = (secret: string) =>
      fetch(`${server.url}/request`, {
        method: 'POST',
        headers: { authorization: basic(svc.client_id, secret), 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          client_id: svc.client_id,
          response_type: 'code',
          redirect_uri: 'https://x.example/cb',
        }),
      });
    // guessing the secret at /request, where the token endpoint's throttle did not look
    for (let i = 0; i < 3; i++) assert.equal((await par(`guess-${i}`)).status, 401);
    const answered = await par(svc.client_secret);
    assert.equal(answered.status, 429, 'PAR still told a right secret from a wrong one');
    assert.ok(answered.headers.get('retry-after'));
    const token = await server.token(svc.client_id, svc.client_secret, {
      grant_type: 'client_credentials',
      resource: api,
    });
    assert.equal(token.status, 429, 'failures at PAR were not counted');
  } finally {
    await server.close();
  }
});

describe('outbound fetch against a hostile https server', () => {
  let pki: Pki;
  let server: Server;
  let origin = '';
  /** sockets the hostile server still holds open */
  const open = new Set<TLSSocket>();

  // raw TLS, so the server can say what an HTTP library would refuse to (statuses, lengths)
  const behaviours: Record<string, (socket: TLSSocket) => void> = {
    '/status-600': (s) => s.end('HTTP/1.1 600 Odd\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}'),
    '/status-999': (s) => s.end('HTTP/1.1 999 Odd\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}'),
    '/announced-huge': (s) => s.write('HTTP/1.1 200 OK\r\ncontent-length: 1000000000\r\n\r\n{"keys":['),
    '/endless': (s) => {
      s.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n');
      const chunk = `4000\r\n${' '.repeat(0x4000)}\r\n`;
      const pump = () => {
        while (!s.destroyed && s.write(chunk)) {
          /* until the socket buffers */
        }
      };
      s.on('drain', pump);
      pump();
    },
    '/dribble': (s) => {
      s.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n');
      const timer = setInterval(() => (s.destroyed ? clearInterval(timer) : s.write('1\r\n \r\n')), 50);
    },
    '/ok': (s) =>
      s.end(
        'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\nconnection: close\r\n\r\n{"keys":[]}',
      ),
  };

  before(async () => {
    pki = createPki();
    const cert = pki.issue('hostile', { subject: '/CN=127.0.0.1', san: 'IP:127.0.0.1', usage: 'serverAuth' });
    server = createServer({ cert: cert.cert, key: cert.key }, (socket) => {
      open.add(socket);
      socket.on('close', () => open.delete(socket));
      socket.on('error', () => {});
      let head = '';
      socket.on('data', (data) => {
        head += data.toString('latin1');
        if (!head.includes('\r\n\r\n')) return;
        const path = head.split(' ')[1] ?? '';
        (behaviours[path] ?? ((s: TLSSocket) => s.end('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n')))(socket);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    origin = `https://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  after(async () => {
    for (const socket of open) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    pki.remove();
  });

  // the hostile server is on loopback: this fetch lets loopback through and trusts the test CA
  const fetchFrom = () => createOutboundFetch({ refused: (address) => address !== '127.0.0.1', ca: pki.ca.cert });

  test('the fetch reaches a server it may reach', async () => {
    const res = await fetchFrom()(`${origin}/ok`, { signal: AbortSignal.timeout(2000) });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { keys: [] });
  });

  test('regression: a status Fetch cannot represent fails the fetch instead of throwing inside the socket handler (which ended the process)', async () => {
    for (const path of ['/status-600', '/status-999']) {
      await assert.rejects(fetchFrom()(`${origin}${path}`, { signal: AbortSignal.timeout(2000) }), /status/, path);
    }
  });

  test('regression: a body past the limit fails the fetch and closes the connection, announced or not', async () => {
    const before = open.size;
    await assert.rejects(
      fetchFrom()(`${origin}/announced-huge`, { signal: AbortSignal.timeout(2000) }).then((r) => r.arrayBuffer()),
      /too large/,
    );
    const started = performance.now();
    await assert.rejects(
      fetchFrom()(`${origin}/endless`, { signal: AbortSignal.timeout(10_000) }).then((r) => r.arrayBuffer()),
      /too large/,
    );
    // cut at the limit, not at the deadline
    assert.ok(performance.now() - started < 5000, 'the endless body was read until the deadline');
    for (let i = 0; i < 50 && open.size > before; i++) await sleep(20);
    assert.equal(open.size, before, 'a connection to the hostile server stayed open');
  });

  test('a body sent slowly ends at the caller’s deadline', async () => {
    const started = performance.now();
    await assert.rejects(
      fetchFrom()(`${origin}/dribble`, { signal: AbortSignal.timeout(500) }).then((r) => r.arrayBuffer()),
    );
    assert.ok(performance.now() - started < 2000);
  });

  test('the deprecated IPv6 forms that carry an IPv4 address are refused too', () => {
    for (const address of ['::7f00:1', '::a00:1', '::ffff:0:7f00:1', '::ffff:0:a9fe:a9fe']) {
      assert.equal(isSpecialUseAddress(address), true, address);
    }
  });
});

describe('registration input', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ env: { REGISTRATION_ENABLED: 'true' } });
  });
  after(() => server?.close());

  // JSON cannot make a function: an object whose toString is not callable cannot be made a string
  const uncallable = { toString: 1 };
  const initialAccessToken = async (uses: number) => {
    const res = await server.admin<{ initial_access_token: string }>('POST', '/initial-access-tokens', { uses });
    assert.equal(res.status, 201);
    return res.body.initial_access_token;
  };
  const register = (iat: string, body: unknown) =>
    fetch(`${server.url}/reg`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${iat}` },
      body: JSON.stringify(body),
    });

  test('regression: an algorithm or method that is an object is 400 invalid_client_metadata at /reg, not 500', async () => {
    const iat = await initialAccessToken(20);
    const base = { redirect_uris: ['https://types.example/cb'] };
    for (const extra of [
      { id_token_signed_response_alg: uncallable },
      { userinfo_signed_response_alg: uncallable },
      { request_object_signing_alg: uncallable },
      { id_token_encrypted_response_alg: uncallable },
      { token_endpoint_auth_method: uncallable },
      { token_endpoint_auth_method: ['client_secret_basic'] },
      { id_token_signed_response_alg: ['RS256'] },
    ]) {
      const res = await register(iat, { ...base, ...extra });
      const body = (await res.json()) as Record<string, unknown>;
      const [field] = Object.keys(extra);
      // refused, or (for a feature that is off) the member is ignored
      if (res.status === 201) assert.equal(body[field as string], undefined, JSON.stringify(extra));
      else {
        assert.equal(res.status, 400, JSON.stringify(extra));
        assert.equal(body.error, 'invalid_client_metadata', JSON.stringify(extra));
      }
    }

    // and the same at an RFC 7592 update
    const created = await register(iat, base);
    assert.equal(created.status, 201);
    const client = (await created.json()) as {
      client_id: string;
      registration_access_token: string;
      registration_client_uri: string;
    };
    const update = await fetch(client.registration_client_uri, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${client.registration_access_token}` },
      body: JSON.stringify({ ...base, client_id: client.client_id, id_token_signed_response_alg: uncallable }),
    });
    assert.equal(update.status, 400);
    assert.equal(((await update.json()) as { error: string }).error, 'invalid_client_metadata');
  });

  test('regression: fapi_profile 2.0 with non-string metadata values is 400 invalid_client_metadata, not 500', async () => {
    const iat = await initialAccessToken(10);
    const base = {
      redirect_uris: ['https://fapi.example/cb'],
      fapi_profile: '2.0',
      token_endpoint_auth_method: 'private_key_jwt',
      dpop_bound_access_tokens: true,
      grant_types: ['authorization_code'],
      require_pushed_authorization_requests: true,
      jwks: { keys: [] },
    };
    for (const extra of [
      { token_endpoint_auth_method: uncallable },
      { id_token_signed_response_alg: uncallable },
      { token_endpoint_auth_method: ['private_key_jwt'] },
    ]) {
      const res = await register(iat, { ...base, ...extra });
      assert.equal(res.status, 400, JSON.stringify(extra));
      assert.equal(((await res.json()) as { error: string }).error, 'invalid_client_metadata');
    }
  });
});
