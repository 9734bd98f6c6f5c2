import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import { client, registerApi, registerService, verifyAccessToken } from '../helpers/oidc.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { createPki, type Pki } from '../helpers/tls.ts';

const API = 'https://inventory.example';
const ISSUER = 'https://kubernetes.cluster.test';
const SUBJECT = 'system:serviceaccount:shop:inventory-sync';
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

type KeyPair = Awaited<ReturnType<typeof generateKeyPair>>;

/** A platform's token issuer: its own keys, its JWKS served over HTTPS on 127.0.0.1 (a private address). */
class TestIssuer {
  keys: { kid: string; pair: KeyPair; alg: string }[] = [];
  hits = 0;
  up = true;
  server: Server | undefined;
  url = '';

  async addKey(alg = 'ES256') {
    const pair = await generateKeyPair(alg, { extractable: true });
    const entry = { kid: randomBytes(6).toString('hex'), pair, alg };
    this.keys.push(entry);
    return entry;
  }

  async jwks() {
    return {
      keys: await Promise.all(
        this.keys.map(async (k) => ({ ...(await exportJWK(k.pair.publicKey)), kid: k.kid, alg: k.alg, use: 'sig' })),
      ),
    };
  }

  async start(tls: { cert: string; key: string }) {
    this.server = createServer({ cert: tls.cert, key: tls.key }, (_req, res) => {
      this.hits++;
      if (!this.up) {
        res.writeHead(503).end();
        return;
      }
      void this.jwks().then((doc) =>
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(doc)),
      );
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.url = `https://127.0.0.1:${(this.server.address() as AddressInfo).port}/openid/v1/jwks`;
  }

  /** a projected service-account token, as Kubernetes writes it into the pod */
  async token(
    claims: Record<string, unknown>,
    options: { key?: TestIssuer['keys'][number]; lifetime?: number; iat?: number | false; iss?: string } = {},
  ) {
    const key = options.key ?? (this.keys.at(-1) as TestIssuer['keys'][number]);
    const now = Math.floor(Date.now() / 1000);
    const iat = options.iat === undefined ? now : options.iat;
    const jwt = new SignJWT({ sub: SUBJECT, ...claims })
      .setProtectedHeader({ alg: key.alg, kid: key.kid })
      .setIssuer(options.iss ?? ISSUER)
      .setExpirationTime((iat === false ? now : iat) + (options.lifetime ?? 600));
    if (iat !== false) jwt.setIssuedAt(iat);
    return jwt.sign(key.pair.privateKey);
  }
}

/** An unsigned or HMAC-signed token made by hand (jose refuses to make `none`). */
function handMade(header: Record<string, unknown>, payload: Record<string, unknown>, signature = '') {
  const part = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${part(header)}.${part(payload)}.${signature}`;
}

describe('workload identity federation', () => {
  let server: TestServer;
  let pki: Pki;
  const issuer = new TestIssuer();
  let service: { client_id: string };
  let issuerId: string;

  before(async () => {
    pki = createPki();
    await issuer.addKey();
    await issuer.start(pki.issue('jwks', { subject: '/CN=127.0.0.1', san: 'IP:127.0.0.1', usage: 'serverAuth' }));
    // many refusals from one address on purpose: the per-address failure limit is raised
    server = await startTestServer({
      env: { FEDERATION_JWKS_COOLDOWN_SECONDS: '1', RATE_LIMIT_CLIENT_AUTH_FAILURES: '10000' },
    });
    await registerApi(server, API, ['stock:read']);
    const registered = await server.admin<{ id: string }>('POST', '/federated-issuers', {
      issuer: ISSUER,
      jwksUri: issuer.url,
      jwksCa: pki.ca.cert,
      allowPrivateNetwork: true,
      audience: server.issuer,
    });
    assert.equal(registered.status, 201, JSON.stringify(registered.body));
    issuerId = registered.body.id;
    service = await registerService(
      server,
      { [API]: ['stock:read'] },
      {
        federatedSubjects: [{ issuer: ISSUER, subject: SUBJECT }],
      },
    );
  });
  after(async () => {
    await server?.close();
    issuer.server?.close();
    pki?.remove();
  });

  /** openid-client, authenticating with the platform's token instead of a secret */
  async function grant(assertion: string, clientId = service.client_id) {
    const config = await client.discovery(
      new URL(server.issuer),
      clientId,
      undefined,
      (_as, _client, body) => {
        body.set('client_assertion_type', ASSERTION_TYPE);
        body.set('client_assertion', assertion);
      },
      { execute: [client.allowInsecureRequests] },
    );
    return client.clientCredentialsGrant(config, { resource: API, scope: 'stock:read' });
  }

  /** the raw token request, without client_id (found from the binding) */
  async function post(assertion: string, extra: Record<string, string> = {}) {
    const res = await fetch(`${server.url}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        resource: API,
        scope: 'stock:read',
        client_assertion_type: ASSERTION_TYPE,
        client_assertion: assertion,
        ...extra,
      }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  const refusedWith = async (assertion: string, reason: string, extra: Record<string, string> = {}) => {
    const res = await post(assertion, extra);
    assert.equal(res.status, 401, `${reason}: ${JSON.stringify(res.body)}`);
    assert.equal(res.body.error, 'invalid_client');
    assert.ok(!JSON.stringify(res.body).includes(reason), 'the reason is for the event log, not the caller');
    const seen = await eventually(async () => {
      const events = await server.admin<{ data: { type: string; details: Record<string, unknown> }[] }>(
        'GET',
        '/events?type=client.auth_failed&limit=200',
      );
      return events.body.data.find((e) => e.details.reason === reason);
    });
    assert.equal(seen.details.method, 'federated_jwt');
    assert.ok(!JSON.stringify(seen).includes(assertion), 'never the token');
  };

  test('a bound platform token gets an access token, with or without client_id, and again until it expires', async () => {
    const assertion = await issuer.token({ aud: [server.issuer] });
    const tokens = await grant(assertion);
    const { payload } = await verifyAccessToken(server, tokens.access_token, API);
    assert.equal(payload.client_id, service.client_id);
    assert.equal(payload.scope, 'stock:read');
    // platforms hand the same token to every call: no jti, no replay refusal
    const again = await post(assertion);
    assert.equal(again.status, 200, JSON.stringify(again.body));
    assert.equal((await grant(assertion)).token_type.toLowerCase(), 'bearer');
    // a string aud (GitHub Actions) works as well as a one-element array (Kubernetes)
    assert.equal((await post(await issuer.token({ aud: server.issuer }))).status, 200);
    // no secret left at all: the platform token alone authenticates
    const secrets = await server.admin<{ data: { id: string }[] }>('GET', `/clients/${service.client_id}/secrets`);
    for (const { id } of secrets.body.data) {
      assert.equal((await server.admin('DELETE', `/clients/${service.client_id}/secrets/${id}`)).status, 204);
    }
    assert.equal((await post(assertion)).status, 200);
    // the proof that stood in for the secret was for that one request only
    const basic = await server.token(service.client_id, 'anything', {
      grant_type: 'client_credentials',
      resource: API,
    });
    assert.equal(basic.status, 401);
  });

  test('wrong issuer, key, audience or subject are refused with the reason in the event', async () => {
    const other = new TestIssuer();
    await other.addKey();
    await refusedWith(await other.token({ aud: server.issuer }, { iss: 'https://elsewhere.test' }), 'unknown_issuer');
    // signed by a key the issuer never published
    await refusedWith(await other.token({ aud: server.issuer }), 'unknown_key');
    // the issuer's kid, another key's signature
    const forged = await other.token(
      { aud: server.issuer },
      { key: { ...(other.keys[0] as TestIssuer['keys'][number]), kid: issuer.keys[0]?.kid as string } },
    );
    await refusedWith(forged, 'bad_signature');
    await refusedWith(await issuer.token({ aud: 'https://someone-else.example' }), 'wrong_audience');
    await refusedWith(await issuer.token({ aud: [server.issuer, 'https://someone-else.example'] }), 'wrong_audience');
    await refusedWith(
      await issuer.token({ aud: server.issuer, sub: 'system:serviceaccount:shop:intruder' }),
      'unbound_subject',
    );
    const stranger = await registerService(server, { [API]: ['stock:read'] });
    await refusedWith(await issuer.token({ aud: server.issuer }), 'client_mismatch', { client_id: stranger.client_id });
  });

  test('expired, not yet valid, overlong and future tokens are refused', async () => {
    const now = Math.floor(Date.now() / 1000);
    await refusedWith(await issuer.token({ aud: server.issuer }, { iat: now - 700, lifetime: 600 }), 'expired');
    await refusedWith(await issuer.token({ aud: server.issuer, nbf: now + 300 }), 'not_yet_valid');
    await refusedWith(await issuer.token({ aud: server.issuer }, { lifetime: 3601 }), 'lifetime_too_long');
    await refusedWith(await issuer.token({ aud: server.issuer }, { iat: false, lifetime: 7200 }), 'lifetime_too_long');
    await refusedWith(await issuer.token({ aud: server.issuer }, { iat: now + 600 }), 'issued_in_future');
    // an hour exactly, and no iat with a short life, are fine
    assert.equal((await post(await issuer.token({ aud: server.issuer }, { lifetime: 3600 }))).status, 200);
    assert.equal((await post(await issuer.token({ aud: server.issuer }, { iat: false, lifetime: 300 }))).status, 200);
  });

  test('alg none and HS256 are refused, even with the public key as the HMAC secret', async () => {
    const now = Math.floor(Date.now() / 1000);
    const claims = { iss: ISSUER, sub: SUBJECT, aud: server.issuer, iat: now, exp: now + 300 };
    const kid = issuer.keys[0]?.kid as string;
    await refusedWith(handMade({ alg: 'none', kid }, claims), 'algorithm_not_allowed');
    const jwk = (await issuer.jwks()).keys[0] as JWK;
    const hs = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', kid })
      .sign(new TextEncoder().encode(JSON.stringify(jwk)));
    await refusedWith(hs, 'algorithm_not_allowed');
    for (const junk of ['not-a-jwt', 'a.b.c', handMade({ alg: 'ES256' }, { iss: ISSUER })]) {
      const res = await post(junk);
      assert.ok(res.status === 400 || res.status === 401, `${junk}: ${res.status}`);
    }
  });

  test('a rotated issuer key is fetched when first seen; a flood of unknown kids does not hammer the issuer', async () => {
    const before = issuer.hits;
    const rotated = await issuer.addKey('RS256');
    const fresh = await issuer.token({ aud: server.issuer }, { key: rotated });
    // the cooldown (1 s in this test) may hold the first attempt back: retried, never more often
    const ok = await eventually(async () => ((await post(fresh)).status === 200 ? true : undefined), 5000);
    assert.ok(ok);
    assert.ok(issuer.hits > before, 'the JWKS was fetched again');
    const other = new TestIssuer();
    await other.addKey();
    const hitsBefore = issuer.hits;
    const started = Date.now();
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        const key = { ...(other.keys[0] as TestIssuer['keys'][number]), kid: randomBytes(6).toString('hex') };
        return post(await issuer.token({ aud: server.issuer }, { key }));
      }),
    );
    const seconds = Math.ceil((Date.now() - started) / 1000);
    assert.ok(issuer.hits - hitsBefore <= seconds + 1, `${issuer.hits - hitsBefore} fetches in ${seconds} s`);
  });

  test('the issuer down: known keys go on working, unknown ones are refused', async () => {
    issuer.up = false;
    try {
      assert.equal((await post(await issuer.token({ aud: server.issuer }))).status, 200, 'cached keys');
      const newKey = await issuer.addKey();
      const assertion = await issuer.token({ aud: server.issuer }, { key: newKey });
      // once the cooldown since the last fetch has passed, the refetch is tried, and fails
      await eventually(async () => {
        assert.equal((await post(assertion)).status, 401);
        const events = await server.admin<{ data: { details: Record<string, unknown> }[] }>(
          'GET',
          '/events?type=client.auth_failed&limit=20',
        );
        return events.body.data.find((e) => e.details.reason === 'jwks_unavailable');
      });
      await refusedWith(assertion, 'jwks_unavailable');
    } finally {
      issuer.up = true;
    }
  });

  test('issuer administration: admin only, validated, private networks only by choice', async () => {
    const writer = await server.adminToken('clients:write');
    const reader = await server.adminToken('clients:read');
    const body = {
      issuer: 'https://token.actions.githubusercontent.com',
      jwksUri: 'https://token.actions.githubusercontent.com/.well-known/jwks',
      audience: 'https://idp.example',
    };
    assert.equal((await server.admin('POST', '/federated-issuers', body, writer)).status, 403);
    assert.equal((await server.admin('GET', '/federated-issuers', undefined, reader)).status, 200);
    assert.equal((await server.admin('GET', `/federated-issuers/${issuerId}`, undefined, reader)).status, 200);
    assert.equal(
      (await server.admin('PATCH', `/federated-issuers/${issuerId}`, { jwksUri: 'https://evil.example/jwks' }, writer))
        .status,
      403,
    );
    const bad = [
      { ...body, issuer: 'http://insecure.example' },
      { ...body, jwksUri: 'http://insecure.example/jwks' },
      { issuer: body.issuer, audience: 'x' },
      { ...body, jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] } },
      {
        issuer: body.issuer,
        audience: 'x',
        jwks: { keys: [{ kty: 'EC', crv: 'P-256', x: 'a', y: 'b', d: 'private' }] },
      },
      { ...body, audience: 'nul\u0000' },
      { ...body, allowPrivateNetwork: 'yes' },
      { ...body, extra: 1 },
      { ...body, jwksCa: 'not a certificate' },
    ];
    for (const b of bad)
      assert.equal((await server.admin('POST', '/federated-issuers', b)).status, 400, JSON.stringify(b));
    assert.equal((await server.admin('POST', '/federated-issuers', { ...body, issuer: ISSUER })).status, 409);
    // binding to an issuer nobody registered, or a subject bound elsewhere
    const unregistered = await server.admin<{ details?: { field: string }[] }>(
      'PATCH',
      `/clients/${service.client_id}`,
      {
        federatedSubjects: [{ issuer: 'https://nobody.example', subject: 'x' }],
      },
    );
    assert.equal(unregistered.status, 400);
    assert.equal(unregistered.body.details?.[0]?.field, 'federatedSubjects.0.issuer');
    const keyOnly = await server.admin('PATCH', `/clients/${service.client_id}`, {
      token_endpoint_auth_method: 'private_key_jwt',
      jwks: (await issuer.jwks()) as never,
    });
    assert.equal(keyOnly.status, 400, 'a federated client authenticates with a secret method');
    const taken = await server.admin('POST', '/clients', {
      client_name: 'thief',
      federatedSubjects: [{ issuer: ISSUER, subject: SUBJECT }],
    });
    assert.equal(taken.status, 409);
    const shown = await server.admin<{ federatedSubjects: unknown }>('GET', `/clients/${service.client_id}`);
    assert.deepEqual(shown.body.federatedSubjects, [{ issuer: ISSUER, subject: SUBJECT }]);
  });

  test('without the private-network opt-in, a loopback jwksUri is never fetched', async () => {
    const created = await server.admin<{ id: string }>('POST', '/federated-issuers', {
      issuer: 'https://private.cluster.test',
      jwksUri: issuer.url,
      jwksCa: pki.ca.cert,
      audience: server.issuer,
    });
    assert.equal(created.status, 201);
    const bound = await registerService(
      server,
      { [API]: ['stock:read'] },
      {
        federatedSubjects: [{ issuer: 'https://private.cluster.test', subject: SUBJECT }],
      },
    );
    assert.ok(bound.client_id);
    const hits = issuer.hits;
    await refusedWith(
      await issuer.token({ aud: server.issuer }, { iss: 'https://private.cluster.test' }),
      'jwks_unavailable',
    );
    assert.equal(issuer.hits, hits, 'no request reached the loopback server');
    assert.equal((await server.admin('DELETE', `/federated-issuers/${created.body.id}`)).status, 204);
  });

  test('unbinding and removing the issuer end the trust at once', async () => {
    // the first key: fetched long ago (the last one was added while the issuer was down)
    const assertion = await issuer.token({ aud: server.issuer }, { key: issuer.keys[0] as TestIssuer['keys'][number] });
    assert.equal((await post(assertion)).status, 200);
    assert.equal((await server.admin('PATCH', `/clients/${service.client_id}`, { federatedSubjects: [] })).status, 200);
    assert.equal((await post(assertion)).status, 401);
    assert.equal(
      (
        await server.admin('PATCH', `/clients/${service.client_id}`, {
          federatedSubjects: [{ issuer: ISSUER, subject: SUBJECT }],
        })
      ).status,
      200,
    );
    assert.equal((await post(assertion)).status, 200);
    assert.equal((await server.admin('DELETE', `/federated-issuers/${issuerId}`)).status, 204);
    assert.equal((await post(assertion)).status, 401);
    const shown = await server.admin<{ federatedSubjects: unknown }>('GET', `/clients/${service.client_id}`);
    assert.deepEqual(shown.body.federatedSubjects, []);
  });
});

async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 8000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) assert.fail('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
