import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/server.ts';

/** A raw request, so the declared Content-Length can be a lie (fetch would refuse). */
function rawPost(url: string, headers: Record<string, string>, body: string) {
  return new Promise<{ status: number; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
    const req = request(url, { method: 'POST', headers }, (res) => {
      let text = '';
      res.on('data', (c) => {
        text += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('input limits and HSTS (an https issuer)', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ env: { ISSUER: 'https://idp.example' } });
  });
  after(() => server?.close());

  test('every response carries HSTS when the issuer is https', async () => {
    for (const path of ['/healthz', '/.well-known/openid-configuration', '/admin/clients', '/no-such-page']) {
      const res = await fetch(`${server.url}${path}`);
      assert.equal(res.headers.get('strict-transport-security'), 'max-age=31536000', path);
    }
  });

  test('a URL over 8 KiB is 414, before any route reads it', async () => {
    const res = await fetch(`${server.url}/auth?state=${'a'.repeat(9000)}`);
    assert.equal(res.status, 414);
    assert.equal(((await res.json()) as { error: string }).error, 'invalid_request');
    assert.equal((await fetch(`${server.url}/auth?state=${'a'.repeat(100)}`)).status < 500, true);
  });

  test('a declared body over 64 KiB is 413 on every endpoint, without reading it', async () => {
    for (const path of ['/token', '/admin/clients', '/interaction/x/login', '/token/introspection']) {
      const res = await rawPost(
        `${server.url}${path}`,
        { 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(100 * 1024) },
        'grant_type=x',
      );
      assert.equal(res.status, 413, path);
      assert.equal(JSON.parse(res.body).error, 'payload_too_large');
    }
    // a real oversized body sent without a length is stopped by the reader's own limit
    const big = await fetch(`${server.url}/admin/clients`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await server.adminToken()}`, 'content-type': 'application/json' },
      body: new ReadableStream({
        start(c) {
          c.enqueue(new TextEncoder().encode(`{"client_name":"${'x'.repeat(70 * 1024)}"}`));
          c.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    assert.equal(big.status, 413);
  });
});
