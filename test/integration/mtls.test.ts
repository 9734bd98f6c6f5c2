import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { createRemoteJWKSet, customFetch, decodeJwt } from 'jose';
import { createExampleService } from '../../packages/resource-server/examples/orders.ts';
import { certificateThumbprint } from '../../packages/resource-server/src/index.ts';
import { client } from '../helpers/oidc.ts';
import { ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET, startTestServer, type TestServer } from '../helpers/server.ts';
import { createPki, httpsRequest, type Issued, type Pki, tlsFetch } from '../helpers/tls.ts';

const API = 'https://orders.example';

/** RFC 8705 over real TLS connections: the server asks for client certificates signed by the test CA. */
describe('mutual TLS (RFC 8705)', () => {
  let pki: Pki;
  let server: TestServer;
  let serviceA: Issued;
  let serviceB: Issued;
  let rogue: Issued;
  let selfSigned: Issued;
  let otherSelfSigned: Issued;
  let adminToken: string;
  let api: Server;
  let apiUrl: string;

  const admin = async (method: string, path: string, body?: unknown) => {
    const res = await httpsRequest(`${server.url}/admin${path}`, {
      ca: pki.ca.cert,
      method,
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: res.text ? res.json() : {} };
  };

  /** client credentials at /token over a connection presenting `cert` (or none) */
  const tokenRequest = (clientId: string, cert: Issued | undefined) =>
    httpsRequest(`${server.url}/token`, {
      ca: pki.ca.cert,
      client: cert,
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, resource: API }).toString(),
    });

  const register = async (metadata: Record<string, unknown>) => {
    const res = await admin('POST', '/clients', { allowedResources: { [API]: ['orders:read'] }, ...metadata });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body as { client_id: string; client_secret?: string };
  };

  before(async () => {
    pki = createPki();
    const tls = pki.issue('server', {
      subject: '/CN=localhost',
      san: 'DNS:localhost,IP:127.0.0.1',
      usage: 'serverAuth',
    });
    serviceA = pki.issue('service-a', { subject: '/O=Example/CN=service-a', san: 'DNS:service-a.internal' });
    serviceB = pki.issue('service-b', { subject: '/O=Example/CN=service-b', san: 'DNS:service-b.internal' });
    rogue = pki
      .otherCa('rogue-ca')
      .issue('rogue', { subject: '/O=Example/CN=service-a', san: 'DNS:service-a.internal' });
    selfSigned = pki.selfSigned('self', '/CN=self-signed service');
    otherSelfSigned = pki.selfSigned('self-2', '/CN=self-signed service');
    server = await startTestServer({
      env: { TLS_CERT_FILE: tls.certFile, TLS_KEY_FILE: tls.keyFile, TLS_CLIENT_CA_FILE: pki.ca.certFile },
    });
    const res = await httpsRequest(`${server.url}/token`, {
      ca: pki.ca.cert,
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${ADMIN_CLIENT_ID}:${ADMIN_CLIENT_SECRET}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: `grant_type=client_credentials&scope=admin&resource=${encodeURIComponent(`${server.issuer}/admin`)}`,
    });
    assert.equal(res.status, 200, res.text);
    adminToken = res.json<{ access_token: string }>().access_token;
    const created = await admin('POST', '/resources', { identifier: API, name: 'Orders', scopes: ['orders:read'] });
    assert.equal(created.status, 201);

    // the example API, over HTTPS, asking for (not requiring) client certificates like the server
    const keys = createRemoteJWKSet(new URL(`${server.url}/jwks`), {
      [customFetch]: tlsFetch(pki.ca.cert) as unknown as typeof fetch,
    });
    const app = createExampleService({ issuer: server.issuer, audience: API, keys });
    api = createServer(
      { cert: tls.cert, key: tls.key, ca: pki.ca.cert, requestCert: true, rejectUnauthorized: false },
      app.callback(),
    );
    await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
    apiUrl = `https://localhost:${(api.address() as AddressInfo).port}/orders`;
  });
  after(async () => {
    api?.close();
    await server?.close();
    pki?.remove();
  });

  test('the server speaks HTTPS and discovery advertises mTLS with its endpoint aliases', async () => {
    assert.match(server.issuer, /^https:\/\/localhost:\d+$/);
    const res = await httpsRequest(`${server.url}/.well-known/openid-configuration`, { ca: pki.ca.cert });
    const meta = res.json<Record<string, unknown>>();
    assert.ok((meta.token_endpoint_auth_methods_supported as string[]).includes('tls_client_auth'));
    assert.ok((meta.token_endpoint_auth_methods_supported as string[]).includes('self_signed_tls_client_auth'));
    assert.equal(meta.tls_client_certificate_bound_access_tokens, true);
    const aliases = meta.mtls_endpoint_aliases as Record<string, string>;
    assert.equal(aliases.token_endpoint, `${server.issuer}/token`);
    assert.equal(aliases.introspection_endpoint, meta.introspection_endpoint);
    assert.equal(aliases.pushed_authorization_request_endpoint, meta.pushed_authorization_request_endpoint);
  });

  test('tls_client_auth by subject DN: the right certificate gets a certificate-bound token (openid-client)', async () => {
    const svc = await register({
      client_name: 'service a',
      token_endpoint_auth_method: 'tls_client_auth',
      tls_client_auth_subject_dn: 'CN=service-a,O=Example',
      tls_client_certificate_bound_access_tokens: true,
    });
    assert.equal(svc.client_secret, undefined, 'a certificate client gets no secret');
    const config = await client.discovery(new URL(server.issuer), svc.client_id, undefined, client.TlsClientAuth(), {
      [client.customFetch]: tlsFetch(pki.ca.cert, serviceA),
    });
    const tokens = await client.clientCredentialsGrant(config, { resource: API, scope: 'orders:read' });
    assert.equal(tokens.token_type.toLowerCase(), 'bearer');
    const claims = decodeJwt(tokens.access_token) as { cnf?: Record<string, string> };
    assert.equal(claims.cnf?.['x5t#S256'], certificateThumbprint(new X509Certificate(serviceA.cert)));

    // RFC 8705 §3: the API accepts the token on a connection with the same certificate only
    const call = (cert: Issued | undefined) =>
      httpsRequest(apiUrl, {
        ca: pki.ca.cert,
        client: cert,
        headers: { authorization: `Bearer ${tokens.access_token}` },
      });
    const good = await call(serviceA);
    assert.equal(good.status, 200, good.text);
    assert.equal(good.json<{ caller: { binding: string } }>().caller.binding, 'mtls');
    for (const other of [serviceB, rogue, undefined]) {
      const refused = await call(other);
      assert.equal(refused.status, 401);
      assert.match(String(refused.headers['www-authenticate']), /error="invalid_token"/);
    }
  });

  test('tls_client_auth refuses a missing certificate, one from another CA, and one with another subject', async () => {
    const svc = await register({
      client_name: 'service a (dn)',
      token_endpoint_auth_method: 'tls_client_auth',
      tls_client_auth_subject_dn: 'CN=service-a,O=Example',
    });
    assert.equal((await tokenRequest(svc.client_id, serviceA)).status, 200);
    for (const cert of [undefined, rogue, serviceB, selfSigned]) {
      const res = await tokenRequest(svc.client_id, cert);
      assert.equal(res.status, 401, `${cert?.certFile ?? 'no certificate'}: ${res.text}`);
      assert.equal(res.json().error, 'invalid_client');
    }
  });

  test('tls_client_auth by SAN DNS name', async () => {
    const svc = await register({
      client_name: 'service a (san)',
      token_endpoint_auth_method: 'tls_client_auth',
      tls_client_auth_san_dns: 'service-a.internal',
    });
    assert.equal((await tokenRequest(svc.client_id, serviceA)).status, 200);
    assert.equal((await tokenRequest(svc.client_id, serviceB)).status, 401);
    // the rogue CA issued the same name: the CA check refuses it
    assert.equal((await tokenRequest(svc.client_id, rogue)).status, 401);
  });

  test('self_signed_tls_client_auth: the registered certificate works, another one does not', async () => {
    const cert = new X509Certificate(selfSigned.cert);
    const jwk = cert.publicKey.export({ format: 'jwk' });
    const svc = await register({
      client_name: 'self-signed service',
      token_endpoint_auth_method: 'self_signed_tls_client_auth',
      jwks: { keys: [{ ...jwk, x5c: [cert.raw.toString('base64')] }] },
      tls_client_certificate_bound_access_tokens: true,
    });
    const ok = await tokenRequest(svc.client_id, selfSigned);
    assert.equal(ok.status, 200, ok.text);
    const claims = decodeJwt(ok.json<{ access_token: string }>().access_token) as { cnf?: Record<string, string> };
    assert.equal(claims.cnf?.['x5t#S256'], certificateThumbprint(cert));
    assert.equal((await tokenRequest(svc.client_id, otherSelfSigned)).status, 401);
    assert.equal((await tokenRequest(svc.client_id, undefined)).status, 401);
  });

  test('the admin API validates the mTLS metadata', async () => {
    const bad = await admin('POST', '/clients', {
      token_endpoint_auth_method: 'tls_client_auth',
      tls_client_auth_san_ip: 'not-an-ip',
    });
    assert.equal(bad.status, 400);
    assert.ok(JSON.stringify(bad.body).includes('tls_client_auth_san_ip'));
    // RFC 8705 §2.1.2: tls_client_auth names exactly one subject value
    const none = await admin('POST', '/clients', { token_endpoint_auth_method: 'tls_client_auth' });
    assert.equal(none.status, 400);
    assert.equal((none.body as { error: string }).error, 'invalid_client_metadata');
    const two = await admin('POST', '/clients', {
      token_endpoint_auth_method: 'tls_client_auth',
      tls_client_auth_san_dns: 'a.example',
      tls_client_auth_subject_dn: 'CN=a',
    });
    assert.equal(two.status, 400);
  });
});
