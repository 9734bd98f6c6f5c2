import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { decodeJwt } from 'jose';
import { createExampleService } from '../../packages/resource-server/examples/orders.ts';
import { createDpopKey, type DpopKey } from '../helpers/dpop.ts';
import { client, discover, registerApi, registerService } from '../helpers/oidc.ts';
import { ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET, startTestServer, type TestServer } from '../helpers/server.ts';

const API = 'https://orders.example';
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

/** RFC 9449: tokens bound to a DPoP key, server nonces, single-use proofs. */
describe('DPoP (RFC 9449)', () => {
  let server: TestServer;
  let service: { client_id: string; client_secret: string };
  let api: Server;
  let apiUrl: string;

  /** POST /token with a DPoP proof made by `key` (a nonce fetched first unless given) */
  const tokenWithProof = async (id: string, secret: string, params: Record<string, string>, proof: string) =>
    fetch(`${server.url}/token`, {
      method: 'POST',
      headers: {
        authorization: basic(id, secret),
        'content-type': 'application/x-www-form-urlencoded',
        dpop: proof,
      },
      body: new URLSearchParams(params),
    });

  const nonce = async (key: DpopKey) => {
    const res = await tokenWithProof(
      service.client_id,
      service.client_secret,
      { grant_type: 'client_credentials', resource: API },
      await key.proof('POST', `${server.issuer}/token`),
    );
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as { error: string }).error, 'use_dpop_nonce');
    const value = res.headers.get('dpop-nonce');
    assert.ok(value, 'a DPoP-Nonce header');
    return value;
  };

  const boundToken = async (key: DpopKey) => {
    const res = await tokenWithProof(
      service.client_id,
      service.client_secret,
      { grant_type: 'client_credentials', resource: API, scope: 'orders:read' },
      await key.proof('POST', `${server.issuer}/token`, { nonce: await nonce(key) }),
    );
    assert.equal(res.status, 200);
    return ((await res.json()) as { access_token: string }).access_token;
  };

  before(async () => {
    server = await startTestServer();
    await registerApi(server, API, ['orders:read', 'orders:write']);
    service = await registerService(server, { [API]: ['orders:read'] });
    const app = createExampleService({ issuer: server.issuer, audience: API, jwksUri: `${server.url}/jwks` });
    api = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => api.once('listening', resolve));
    apiUrl = `http://localhost:${(api.address() as AddressInfo).port}/orders`;
  });
  after(async () => {
    api?.close();
    await server?.close();
  });

  test('openid-client gets a DPoP token (token_type DPoP, cnf.jkt) and uses it at the API', async () => {
    const config = await discover(server, service.client_id, service.client_secret);
    assert.ok(config.serverMetadata().dpop_signing_alg_values_supported?.includes('ES256'));
    const keyPair = await client.randomDPoPKeyPair('ES256');
    const dpop = client.getDPoPHandle(config, keyPair);
    // the first attempt is refused with use_dpop_nonce; openid-client retries with the nonce
    const tokens = await client.clientCredentialsGrant(config, { resource: API, scope: 'orders:read' }, { DPoP: dpop });
    assert.equal(tokens.token_type.toLowerCase(), 'dpop');
    const claims = decodeJwt(tokens.access_token) as { cnf?: { jkt?: string } };
    const { calculateJwkThumbprint, exportJWK } = await import('jose');
    assert.equal(claims.cnf?.jkt, await calculateJwkThumbprint(await exportJWK(keyPair.publicKey)));

    const res = await client.fetchProtectedResource(
      config,
      tokens.access_token,
      new URL(apiUrl),
      'GET',
      undefined,
      undefined,
      {
        DPoP: dpop,
      },
    );
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { caller: { binding: string } }).caller.binding, 'dpop');

    // introspection reports it as a DPoP token with its binding
    const introspected = await fetch(`${server.url}/token/introspection`, {
      method: 'POST',
      headers: { authorization: basic(service.client_id, service.client_secret) },
      body: new URLSearchParams({ token: tokens.access_token }),
    });
    const body = (await introspected.json()) as { active: boolean; token_type: string; cnf?: { jkt: string } };
    assert.equal(body.active, true);
    assert.equal(body.token_type, 'DPoP');
    assert.equal(body.cnf?.jkt, claims.cnf?.jkt);
  });

  test('the token endpoint requires a server nonce and refuses a replayed proof', async () => {
    const key = await createDpopKey();
    const fresh = await nonce(key);
    const proof = await key.proof('POST', `${server.issuer}/token`, { nonce: fresh });
    const params = { grant_type: 'client_credentials', resource: API };
    const first = await tokenWithProof(service.client_id, service.client_secret, params, proof);
    assert.equal(first.status, 200);
    const replayed = await tokenWithProof(service.client_id, service.client_secret, params, proof);
    assert.equal(replayed.status, 400);
    assert.equal(((await replayed.json()) as { error: string }).error, 'invalid_grant');
    // the same nonce in a new proof (a new jti) is fine: it was the replay that was refused
    const again = await tokenWithProof(
      service.client_id,
      service.client_secret,
      params,
      await key.proof('POST', `${server.issuer}/token`, { nonce: fresh }),
    );
    assert.equal(again.status, 200);
    // a made-up nonce is refused with a fresh one to use
    const forged = await tokenWithProof(
      service.client_id,
      service.client_secret,
      params,
      await key.proof('POST', `${server.issuer}/token`, { nonce: 'made-up' }),
    );
    assert.equal(forged.status, 400);
    assert.equal(((await forged.json()) as { error: string }).error, 'use_dpop_nonce');
  });

  test('a DPoP-bound token works only with a fresh proof from the same key, for this request', async () => {
    const key = await createDpopKey();
    const token = await boundToken(key);
    const call = (headers: Record<string, string>, url = apiUrl) => fetch(url, { headers });
    const good = await key.proof('GET', apiUrl, { accessToken: token });
    assert.equal((await call({ authorization: `DPoP ${token}`, dpop: good })).status, 200);

    const refusals: [string, Record<string, string>][] = [
      ['replayed proof', { authorization: `DPoP ${token}`, dpop: good }],
      ['as a bearer token', { authorization: `Bearer ${token}` }],
      ['no proof', { authorization: `DPoP ${token}` }],
      [
        "another key's proof",
        {
          authorization: `DPoP ${token}`,
          dpop: await (await createDpopKey()).proof('GET', apiUrl, { accessToken: token }),
        },
      ],
      [
        'proof for another URL',
        { authorization: `DPoP ${token}`, dpop: await key.proof('GET', `${apiUrl}x`, { accessToken: token }) },
      ],
      [
        'proof for another method',
        { authorization: `DPoP ${token}`, dpop: await key.proof('POST', apiUrl, { accessToken: token }) },
      ],
      ['proof without ath', { authorization: `DPoP ${token}`, dpop: await key.proof('GET', apiUrl) }],
      [
        'stale proof',
        {
          authorization: `DPoP ${token}`,
          dpop: await key.proof('GET', apiUrl, { accessToken: token, iat: Math.floor(Date.now() / 1000) - 600 }),
        },
      ],
    ];
    for (const [name, headers] of refusals) {
      const res = await call(headers);
      assert.equal(res.status, 401, name);
      assert.match(res.headers.get('www-authenticate') ?? '', /error="invalid_(token|dpop_proof)"/, name);
    }
  });

  test('a client registered with dpop_bound_access_tokens gets no token without a proof', async () => {
    const bound = await registerService(server, { [API]: ['orders:read'] }, { dpop_bound_access_tokens: true });
    const res = await server.token(bound.client_id, bound.client_secret, {
      grant_type: 'client_credentials',
      resource: API,
    });
    assert.equal(res.status, 400);
    const config = await discover(server, bound.client_id, bound.client_secret);
    const dpop = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'));
    const tokens = await client.clientCredentialsGrant(config, { resource: API }, { DPoP: dpop });
    assert.equal(tokens.token_type.toLowerCase(), 'dpop');
  });

  test('the admin API accepts a DPoP-bound admin token only with its proof', async () => {
    const key = await createDpopKey();
    const params = { grant_type: 'client_credentials', resource: `${server.issuer}/admin`, scope: 'admin' };
    const first = await tokenWithProof(
      ADMIN_CLIENT_ID,
      ADMIN_CLIENT_SECRET,
      params,
      await key.proof('POST', `${server.issuer}/token`),
    );
    const fresh = first.headers.get('dpop-nonce') ?? '';
    const res = await tokenWithProof(
      ADMIN_CLIENT_ID,
      ADMIN_CLIENT_SECRET,
      params,
      await key.proof('POST', `${server.issuer}/token`, { nonce: fresh }),
    );
    assert.equal(res.status, 200);
    const token = ((await res.json()) as { access_token: string }).access_token;
    const url = `${server.url}/admin/clients`;
    const asBearer = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(asBearer.status, 401);
    const proof = await key.proof('GET', `${server.issuer}/admin/clients`, { accessToken: token });
    const withProof = await fetch(url, { headers: { authorization: `DPoP ${token}`, dpop: proof } });
    assert.equal(withProof.status, 200, await withProof.clone().text());
    const replay = await fetch(url, { headers: { authorization: `DPoP ${token}`, dpop: proof } });
    assert.equal(replay.status, 401);
  });
});
