import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { copyFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { connect } from 'node:tls';
import { decodeJwt } from 'jose';
import { loadConfig } from '../../src/config/index.ts';
import { createTestDatabase } from '../helpers/database.ts';
import { registerApi } from '../helpers/oidc.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { createPki, type Issued, type Pki } from '../helpers/tls.ts';

const API = 'https://orders.example';

/** The certificate a TLS server presents, as its SHA-256 fingerprint. */
const servedFingerprint = (port: number, ca: string) =>
  new Promise<string>((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, servername: 'localhost', ca }, () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.end();
    });
    socket.on('error', reject);
  });

describe('HTTPS certificate reload', () => {
  let pki: Pki;
  before(() => {
    pki = createPki();
  });
  after(() => pki?.remove());

  test('SIGHUP makes the running server serve the new certificate', async () => {
    const first = pki.issue('first', { subject: '/CN=localhost', san: 'DNS:localhost', usage: 'serverAuth' });
    const second = pki.issue('second', { subject: '/CN=localhost', san: 'DNS:localhost', usage: 'serverAuth' });
    const live: Issued = { ...first, certFile: `${pki.dir}/live.pem`, keyFile: `${pki.dir}/live.key` };
    copyFileSync(first.certFile, live.certFile);
    copyFileSync(first.keyFile, live.keyFile);
    const database = await createTestDatabase();
    const child = spawn(
      process.execPath,
      ['--experimental-strip-types', '--disable-warning=ExperimentalWarning', 'src/main.ts'],
      {
        env: {
          ...process.env,
          ...database.env,
          NODE_ENV: 'test',
          PORT: '0',
          LOG_LEVEL: 'info',
          SECRETS_KEY: 'test-secrets-key-0123456789abcdef0123456789abcdef',
          TLS_CERT_FILE: live.certFile,
          TLS_KEY_FILE: live.keyFile,
        },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    try {
      const lines: string[] = [];
      const logged = (pattern: RegExp) =>
        new Promise<string>((resolve, reject) => {
          const check = () => {
            const hit = lines.find((line) => pattern.test(line));
            if (hit) resolve(hit);
          };
          child.stdout.on('data', (chunk: Buffer) => {
            lines.push(...chunk.toString('utf8').split('\n'));
            check();
          });
          child.once('exit', () => reject(new Error(`server exited: ${lines.join('\n')}`)));
          check();
        });
      const listening = JSON.parse(await logged(/"listening"/)) as { url: string };
      const port = Number(new URL(listening.url).port);
      const fingerprint = (cert: string) => new X509Certificate(cert).fingerprint256;
      assert.equal(await servedFingerprint(port, pki.ca.cert), fingerprint(first.cert));

      copyFileSync(second.certFile, live.certFile);
      copyFileSync(second.keyFile, live.keyFile);
      child.kill('SIGHUP');
      await logged(/TLS certificate reloaded/);
      assert.equal(await servedFingerprint(port, pki.ca.cert), fingerprint(second.cert));
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
      await database.drop();
    }
  });
});

describe('client certificate forwarded by a trusted proxy', () => {
  let pki: Pki;
  let server: TestServer;
  let serviceA: Issued;
  let rogue: Issued;
  let clientId: string;

  const withHeader = (value: string | undefined) =>
    fetch(`${server.url}/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        ...(value === undefined ? {} : { 'x-client-cert': value }),
      },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, resource: API }),
    });

  before(async () => {
    pki = createPki();
    serviceA = pki.issue('service-a', { subject: '/O=Example/CN=service-a', san: 'DNS:service-a.internal' });
    rogue = pki
      .otherCa('rogue-ca')
      .issue('rogue', { subject: '/O=Example/CN=service-a', san: 'DNS:service-a.internal' });
    server = await startTestServer({
      env: { TRUST_PROXY: 'true', TLS_CLIENT_CERT_HEADER: 'X-Client-Cert', TLS_CLIENT_CA_FILE: pki.ca.certFile },
    });
    await registerApi(server, API, ['orders:read']);
    const res = await server.admin<{ client_id: string }>('POST', '/clients', {
      client_name: 'behind the proxy',
      token_endpoint_auth_method: 'tls_client_auth',
      tls_client_auth_san_dns: 'service-a.internal',
      tls_client_certificate_bound_access_tokens: true,
      allowedResources: { [API]: ['orders:read'] },
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    clientId = res.body.client_id;
  });
  after(async () => {
    await server?.close();
    pki?.remove();
  });

  test('a URL-encoded PEM (nginx, ALB), a bare base64 DER (Traefik) and an Envoy XFCC element are read', async () => {
    const der = new X509Certificate(serviceA.cert).raw.toString('base64');
    for (const value of [
      encodeURIComponent(serviceA.cert),
      der,
      `By=spiffe://proxy;Hash=abc;Cert="${encodeURIComponent(serviceA.cert)}";Subject="CN=service-a"`,
    ]) {
      const res = await withHeader(value);
      assert.equal(res.status, 200, value.slice(0, 40));
      const { access_token } = (await res.json()) as { access_token: string };
      assert.ok((decodeJwt(access_token) as { cnf?: Record<string, string> }).cnf?.['x5t#S256']);
    }
  });

  test('a forwarded certificate from another CA, garbage or no header is refused', async () => {
    for (const value of [encodeURIComponent(rogue.cert), 'not a certificate', undefined]) {
      const res = await withHeader(value);
      assert.equal(res.status, 401, String(value).slice(0, 40));
    }
  });

  test('the header is never believed without TRUST_PROXY', () => {
    assert.throws(
      () => loadConfig({ PORT: '0', TLS_CLIENT_CERT_HEADER: 'x-client-cert' }),
      /TLS_CLIENT_CERT_HEADER: needs TRUST_PROXY=true/,
    );
  });

  test('without a certificate source, discovery offers no mTLS and such clients are refused', async () => {
    const plain = await startTestServer({ env: { TRUST_PROXY: 'true' } });
    try {
      const meta = (await (await fetch(`${plain.url}/.well-known/openid-configuration`)).json()) as Record<
        string,
        unknown
      >;
      assert.ok(!(meta.token_endpoint_auth_methods_supported as string[]).includes('tls_client_auth'));
      assert.equal(meta.mtls_endpoint_aliases, undefined);
      const res = await plain.admin('POST', '/clients', {
        token_endpoint_auth_method: 'tls_client_auth',
        tls_client_auth_san_dns: 'service-a.internal',
      });
      assert.equal(res.status, 400);
      assert.equal(res.body.error, 'invalid_client_metadata');
    } finally {
      await plain.close();
    }
  });
});
