import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createTestDatabase, postgresServerUrl, type TestDatabase } from '../helpers/database.ts';
import { registerApi, registerService } from '../helpers/oidc.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

// Introspection answers revocations from a list every instance holds in memory (revocations.ts):
// these pin that it is never wrong, across instances and restarts.
const API = 'https://ledger.example';
const ISSUER = 'http://localhost:1';
const basic = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
type Service = { client_id: string; client_secret: string };

async function call(server: TestServer, svc: Service, path: string, token: string) {
  const res = await fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: {
      authorization: basic(svc.client_id, svc.client_secret),
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ token }),
  });
  assert.equal(res.status, 200, `${path}: ${res.status} ${await res.clone().text()}`);
  return (await res.json()) as { active?: boolean };
}
const active = async (server: TestServer, svc: Service, token: string) =>
  (await call(server, svc, '/token/introspection', token)).active === true;
const revoke = (server: TestServer, svc: Service, token: string) => call(server, svc, '/token/revocation', token);

async function issue(server: TestServer, svc: Service): Promise<string> {
  const res = await server.token(svc.client_id, svc.client_secret, { grant_type: 'client_credentials', resource: API });
  assert.equal(res.status, 200);
  return (res.body as { access_token: string }).access_token;
}

/** Asks until the answer is `expected` or `withinMs` passes; returns how long it took. */
async function until(expected: boolean, ask: () => Promise<boolean>, withinMs: number): Promise<number> {
  const start = performance.now();
  for (;;) {
    if ((await ask()) === expected) return performance.now() - start;
    if (performance.now() - start > withinMs) assert.fail(`still ${!expected} after ${withinMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('revoked access tokens on one instance and after a restart', () => {
  let database: TestDatabase;
  let server: TestServer;
  let svc: Service;
  before(async () => {
    database = await createTestDatabase();
    server = await startTestServer({ database: { ...database, drop: async () => {} }, env: { ISSUER } });
    await registerApi(server, API, ['ledger:read']);
    svc = await registerService(server, { [API]: ['ledger:read'] });
  });
  after(async () => {
    await server?.close();
    await database?.drop();
  });

  test('a revoked token is inactive at once on the instance that revoked it, and still after a restart', async () => {
    const kept = await issue(server, svc);
    const revoked = await issue(server, svc);
    assert.equal(await active(server, svc, revoked), true);
    await revoke(server, svc, revoked);
    assert.equal(await active(server, svc, revoked), false, 'the revoking instance answered active');
    assert.equal(await active(server, svc, kept), true);

    await server.close();
    server = await startTestServer({ database: { ...database, drop: async () => {} }, env: { ISSUER } });
    // asked at once: before and after the restarted instance has read its list
    assert.equal(await active(server, svc, revoked), false, 'a restarted instance forgot a revocation');
    assert.equal(await active(server, svc, kept), true);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(await active(server, svc, revoked), false);
  });

  test('revoking an unknown, malformed or foreign token changes nothing and says nothing', async () => {
    const token = await issue(server, svc);
    const other = await registerService(server, { [API]: ['ledger:read'] });
    // RFC 7009 §2.1: a client may revoke only its own tokens
    const res = await fetch(`${server.url}/token/revocation`, {
      method: 'POST',
      headers: {
        authorization: basic(other.client_id, other.client_secret),
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ token }),
    });
    assert.equal(res.status, 400);
    assert.equal(await active(server, svc, token), true);
    // a token whose signature is not ours is not stored as revoked
    const [h, p] = token.split('.');
    await revoke(server, svc, `${h}.${p}.${'A'.repeat(86)}`);
    assert.equal(await active(server, svc, token), true);
  });
});

describe('revoked access tokens across instances on one PostgreSQL database', {
  skip: postgresServerUrl === undefined && 'several instances need PostgreSQL (TEST_DATABASE_URL)',
}, () => {
  let database: TestDatabase;
  const servers: TestServer[] = [];
  let svc: Service;
  const start = async () => {
    const server = await startTestServer({ database: { ...database, drop: async () => {} }, env: { ISSUER } });
    servers.push(server);
    return server;
  };
  before(async () => {
    database = await createTestDatabase();
    const a = await start();
    await start();
    await registerApi(a, API, ['ledger:read']);
    svc = await registerService(a, { [API]: ['ledger:read'] });
  });
  after(async () => {
    for (const s of servers) await s.close();
    await database?.drop();
  });

  test('revoked on one instance: inactive there at once, on the other within the bus latency, on a new one from its start', async () => {
    const [a, b] = servers as [TestServer, TestServer];
    const first = await issue(a, svc);
    const second = await issue(b, svc);
    for (const s of [a, b]) {
      assert.equal(await active(s, svc, first), true);
      assert.equal(await active(s, svc, second), true);
    }

    await revoke(a, svc, first);
    assert.equal(await active(a, svc, first), false, 'the revoking instance answered active');
    const latency = await until(false, () => active(b, svc, first), 5_000);
    assert.ok(latency < 5_000);
    // and the other way round
    await revoke(b, svc, second);
    assert.equal(await active(b, svc, second), false);
    await until(false, () => active(a, svc, second), 5_000);

    const c = await start();
    assert.equal(await active(c, svc, first), false, 'a new instance answered active for a revoked token');
    assert.equal(await active(c, svc, second), false);
    const fresh = await issue(c, svc);
    for (const s of [a, b, c]) assert.equal(await active(s, svc, fresh), true);
  });
});
