import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { decodeProtectedHeader } from 'jose';
import { httpAccessToken } from '../../packages/resource-server/src/index.ts';
import { createTestDatabase, postgresServerUrl, type TestDatabase } from '../helpers/database.ts';
import { registerApi, registerService } from '../helpers/oidc.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const API = 'https://rotation.example';
const AHEAD = 2;

interface KeyRow {
  kid: string;
  alg: string;
  state: 'pending' | 'active' | 'retired';
  activates_at: string;
  retired_at: string | null;
  expires_at: string | null;
}

const kidOf = (token: string) => decodeProtectedHeader(token).kid as string;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/**
 * Two instances on one database (one on the embedded database, which a single process owns),
 * KEY_PUBLISH_AHEAD_SECONDS=2, and an API whose JWKS cache (1 s) is shorter than that, as the
 * rotation guide asks. Before publish-ahead, a token signed with a brand-new key met an API
 * that had fetched the JWKS a moment earlier and refused it until its refetch cooldown ended.
 */
describe('signing key rotation nobody notices', () => {
  let database: TestDatabase;
  let a: TestServer;
  let b: TestServer;
  let api: Server;
  let apiUrl: string;
  let service: { client_id: string; client_secret: string };

  const tokenFrom = async (server: TestServer) => {
    const res = await server.token(service.client_id, service.client_secret, {
      grant_type: 'client_credentials',
      resource: API,
      scope: 'rotation:read',
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body.access_token as string;
  };
  const callApi = async (token: string) => {
    const res = await fetch(apiUrl, { headers: { authorization: `Bearer ${token}` } });
    return { status: res.status, body: await res.text() };
  };
  const keys = async (server: TestServer) => {
    const res = await server.admin<{ data: KeyRow[] }>('GET', '/keys');
    assert.equal(res.status, 200);
    return res.body.data;
  };
  const published = async (server: TestServer) =>
    ((await (await fetch(`${server.url}/jwks`)).json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid);
  const es256 = (rows: KeyRow[], state: KeyRow['state']) => rows.filter((k) => k.alg === 'ES256' && k.state === state);

  before(async () => {
    database = await createTestDatabase();
    const shared = { ...database, drop: async () => {} };
    const env = { ISSUER: 'http://localhost:1', KEY_PUBLISH_AHEAD_SECONDS: String(AHEAD) };
    a = await startTestServer({ database: shared, env });
    b = postgresServerUrl === undefined ? a : await startTestServer({ database: shared, env });
    await registerApi(a, API, ['rotation:read']);
    service = await registerService(a, { [API]: ['rotation:read'] });
    const authenticate = httpAccessToken({
      issuer: a.issuer,
      audience: API,
      jwksUri: `${a.url}/jwks`,
      cacheMaxAge: 1,
      // the default: an unknown kid may not fetch again within 10 s, so only publish-ahead saves it
      refetchInterval: 10,
    });
    api = createServer(async (req, res) => {
      const token = await authenticate(req, res);
      if (token) res.end('ok');
    });
    await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
    apiUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}/`;
  });
  after(async () => {
    api?.close();
    await a?.close();
    if (b !== a) await b?.close();
    await database?.drop();
  });

  test('an API that fetched the JWKS just before a rotation accepts every token issued after it', async () => {
    const before = kidOf(await tokenFrom(a));
    assert.equal((await callApi(await tokenFrom(a))).status, 200); // the API has the JWKS now

    const rotated = await a.admin<{ rotated: string[]; activates_at: string; withdrawn: string[] }>(
      'POST',
      '/keys/rotate',
    );
    assert.equal(rotated.status, 200);
    assert.equal(rotated.body.rotated.length, 2);
    assert.deepEqual(rotated.body.withdrawn, []);
    const activatesAt = Date.parse(rotated.body.activates_at);
    assert.ok(activatesAt - Date.now() > 1000, 'the new keys sign only after the publish-ahead time');
    const next = es256(await keys(a), 'pending')[0];
    assert.ok(next && rotated.body.rotated.includes(next.kid));

    // every instance publishes the pending key within moments, before it signs anything
    await until('instance B to publish the pending key', async () =>
      (await published(b)).includes(next.kid) ? true : undefined,
    );
    assert.ok(Date.now() < activatesAt);

    // a second rotation while one is pending changes nothing
    const again = await a.admin<{ rotated: string[] }>('POST', '/keys/rotate');
    assert.deepEqual(again.body.rotated.sort(), [...rotated.body.rotated].sort());

    // tokens from both instances, before and after the switch: none is refused
    const seen = new Set<string>();
    const refused: string[] = [];
    const end = activatesAt + 2500;
    for (let i = 0; Date.now() < end; i++) {
      const token = await tokenFrom(i % 2 === 0 ? a : b);
      const kid = kidOf(token);
      if (Date.now() < activatesAt - 200) assert.equal(kid, before, 'a pending key signs nothing');
      seen.add(kid);
      const res = await callApi(token);
      if (res.status !== 200) refused.push(`${kid}: ${res.status} ${res.body}`);
      await sleep(100);
    }
    assert.deepEqual(refused, []);
    assert.ok(seen.has(next.kid), 'the new key signs after the publish-ahead time');
    assert.equal(kidOf(await tokenFrom(a)), next.kid);
    assert.equal(kidOf(await tokenFrom(b)), next.kid);

    // the replaced key stays published until its tokens have expired (the API's TTL, here 300 s, or an hour for ID tokens)
    const rows = await keys(b);
    const old = rows.find((k) => k.kid === before);
    assert.equal(old?.state, 'retired');
    assert.equal(Date.parse(old?.retired_at ?? ''), activatesAt);
    const kept = (Date.parse(old?.expires_at ?? '') - activatesAt) / 1000;
    assert.equal(kept, 3600 + 300, 'longest token lifetime (ID tokens: 1 h) plus the margin');
    assert.ok((await published(a)).includes(before));
    assert.equal(es256(rows, 'active')[0]?.kid, next.kid);
  });

  test('an API with tokens living longer than an hour keeps the replaced key published that long', async () => {
    await registerApi(a, 'https://long-lived.example', ['x:read'], 86_400);
    const rotated = await a.admin<{ activates_at: string }>('POST', '/keys/rotate?immediate=true');
    const active = Date.parse(rotated.body.activates_at);
    const retired = (await keys(a)).filter((k) => k.retired_at !== null && Date.parse(k.retired_at) === active);
    assert.ok(retired.length >= 2);
    for (const key of retired) assert.equal((Date.parse(key.expires_at ?? '') - active) / 1000, 86_400 + 300);
  });

  test('immediate=true signs with the new key at once, everywhere, and keeps the old one published', async () => {
    const old = kidOf(await tokenFrom(a));
    const res = await a.admin<{ rotated: string[]; activates_at: string }>('POST', '/keys/rotate?immediate=true');
    assert.equal(res.status, 200);
    const fresh = res.body.rotated;
    assert.ok(Date.parse(res.body.activates_at) <= Date.now());
    const onA = await until('instance A to sign with the new key', async () => {
      const kid = kidOf(await tokenFrom(a));
      return fresh.includes(kid) ? kid : undefined;
    });
    await until('instance B to sign with the new key', async () =>
      kidOf(await tokenFrom(b)) === onA ? true : undefined,
    );
    assert.ok((await published(b)).includes(old), 'the replaced key verifies the tokens it signed');
    const events = await a.admin<{ data: { type: string; details: Record<string, unknown> }[] }>(
      'GET',
      '/events?type=key.rotated',
    );
    assert.ok(
      events.body.data.some((e) => e.details.immediate === true && e.details.withdraw === undefined),
      JSON.stringify(events.body.data.slice(0, 2)),
    );
  });

  test('bad rotation options are a 400 naming the parameter; a read-only token cannot rotate', async () => {
    for (const [query, field] of [
      ['withdraw=true', 'withdraw'],
      ['immediate=yes', 'immediate'],
      ['immediate=true&immediate=true', 'immediate'],
      ['force=true', 'force'],
      ['immediate=%F0%9F%98%80', 'immediate'],
    ] as const) {
      const res = await a.admin<{ error: string; details?: { field: string }[] }>('POST', `/keys/rotate?${query}`);
      assert.equal(res.status, 400, query);
      assert.ok(JSON.stringify(res.body).includes(field), `${query}: ${JSON.stringify(res.body)}`);
    }
    const reader = await a.adminToken('keys:read');
    assert.equal((await a.admin('POST', '/keys/rotate', undefined, reader)).status, 403);
    assert.equal((await a.admin('GET', '/keys', undefined, reader)).status, 200);
  });

  test('idp_signing_key_age_seconds reports the age of each active key', async () => {
    const text = await (await fetch(`${a.url}/metrics`)).text();
    const ages = [...text.matchAll(/^idp_signing_key_age_seconds\{alg="(\w+)"\} ([\d.e+-]+)$/gm)];
    assert.deepEqual(ages.map((m) => m[1]).sort(), ['ES256', 'RS256']);
    for (const m of ages) assert.ok(Number(m[2]) >= 0 && Number(m[2]) < 120);
  });
  test('immediate=true&withdraw=true removes every earlier key from the JWKS at once', async () => {
    const oldToken = await tokenFrom(a);
    const old = kidOf(oldToken);
    const res = await a.admin<{ rotated: string[]; withdrawn: string[] }>(
      'POST',
      '/keys/rotate?immediate=true&withdraw=true',
    );
    assert.equal(res.status, 200);
    assert.ok(res.body.withdrawn.includes(old));
    for (const server of [a, b]) {
      await until('the withdrawn key to leave the JWKS', async () => {
        const kids = await published(server);
        return !kids.includes(old) && res.body.rotated.every((kid) => kids.includes(kid)) ? true : undefined;
      });
    }
    // the admin token in hand was signed with a withdrawn key: it no longer verifies
    assert.equal((await a.admin('GET', '/keys')).status, 401);
    const fresh = await a.adminToken();
    const rows = (await a.admin<{ data: KeyRow[] }>('GET', '/keys', undefined, fresh)).body.data;
    assert.deepEqual(rows.map((k) => k.kid).sort(), [...res.body.rotated].sort());
    assert.ok(rows.every((k) => k.state === 'active'));
  });
});
