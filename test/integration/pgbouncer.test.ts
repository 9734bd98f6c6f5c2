import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { createTestDatabase, postgresServerUrl, type TestDatabase } from '../helpers/database.ts';
import { createUser, follow, postLogin, registerWebClient, startSignIn } from '../helpers/form-signin.ts';
import { registerApi, registerService, verifyAccessToken } from '../helpers/oidc.ts';
import { type PrivatePgBouncer, startPgBouncer } from '../helpers/pgbouncer.ts';
import { randomName, startTestServer, type TestServer } from '../helpers/server.ts';

// Most production PostgreSQL runs behind PgBouncer in transaction pooling mode: consecutive
// transactions of one client connection may run on different server connections, so nothing
// may rely on a session (LISTEN, session advisory locks, SET, named prepared statements).
// DATABASE_URL goes through the pooler; DATABASE_DIRECT_URL reaches PostgreSQL for the rest.

const API = 'https://pgbouncer.example';
const PASSWORD = 'correct horse battery staple';

async function serviceToken(server: TestServer, svc: { client_id: string; client_secret: string }) {
  const res = await server.token(svc.client_id, svc.client_secret, { grant_type: 'client_credentials', resource: API });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.access_token as string;
}

async function jwksKids(server: TestServer): Promise<string[]> {
  const { keys } = (await (await fetch(`${server.url}/jwks`)).json()) as { keys: { kid: string }[] };
  return keys.map((k) => k.kid).sort();
}

/** Polls until `check` passes: other instances learn of changes through NOTIFY, a moment later. */
async function eventually(check: () => Promise<void>, timeoutMs = 3000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

describe('behind PgBouncer in transaction pooling mode', {
  skip: postgresServerUrl === undefined && 'needs PostgreSQL (TEST_DATABASE_URL)',
}, () => {
  let bouncer: PrivatePgBouncer;
  let database: TestDatabase;
  let directUrl: string;
  let a: TestServer;
  let b: TestServer;

  before(async () => {
    bouncer = await startPgBouncer(postgresServerUrl as string);
    database = await createTestDatabase();
    directUrl = database.env.DATABASE_URL as string;
    // two instances of one deployment: the same issuer, the pooled URL for queries
    const env = {
      ISSUER: 'http://localhost:1',
      DATABASE_URL: bouncer.url(directUrl),
      DATABASE_DIRECT_URL: directUrl,
      SIGNIN_DELAY_MS: '1',
    };
    const shared = { ...database, drop: async () => {} };
    [a, b] = await Promise.all([
      startTestServer({ database: shared, env }),
      startTestServer({ database: shared, env }),
    ]);
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await database?.drop();
    await bouncer?.stop();
  });

  const direct = async <T extends Record<string, unknown>>(sql: string): Promise<T[]> => {
    const client = new pg.Client({ connectionString: directUrl });
    await client.connect();
    try {
      return (await client.query<T>(sql)).rows;
    } finally {
      await client.end();
    }
  };

  test('regression: two instances starting together through the pooler migrate once and leave no advisory lock held', async () => {
    const rows = await direct<{ n: number }>(
      'SELECT count(*)::int AS n FROM "_prisma_migrations" GROUP BY migration_name',
    );
    assert.ok(rows.length >= 1 && rows.every((r) => r.n === 1), JSON.stringify(rows));
    // a session lock taken through the pooler would stay on some server connection for good,
    // and the next start (or upgrade) would wait on it forever
    const locks = await direct<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    );
    assert.equal(locks[0]?.n, 0);
  });

  test('client credentials tokens and admin API writes go through the pooler', async () => {
    const dbName = new URL(directUrl).pathname.slice(1);
    const before = await bouncer.transactions(dbName);
    await registerApi(a, API, ['read', 'write']);
    const svc = await registerService(a, { [API]: ['read'] });
    const token = await serviceToken(b, svc);
    const { payload } = await verifyAccessToken(a, token, API);
    assert.equal(payload.client_id, svc.client_id);
    const patched = await a.admin('PATCH', `/clients/${svc.client_id}`, { client_name: 'renamed through the pooler' });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    assert.equal(
      (await b.admin<{ client_name: string }>('GET', `/clients/${svc.client_id}`)).body.client_name,
      'renamed through the pooler',
    );
    assert.ok((await bouncer.transactions(dbName)) > before, 'PgBouncer passed the queries on');
  });

  test('a person signs in with the code flow and refreshes, each step on another instance', async () => {
    const web = await registerWebClient(a, { first_party: true });
    const username = randomName('pooled');
    await createUser(b, username, PASSWORD);
    // the interaction is stored by one instance and continued on the other: it lives in the database
    const signin = await startSignIn(a, web, {}, { scope: 'openid offline_access', prompt: 'consent' });
    const ok = await postLogin(a, signin, username, PASSWORD);
    assert.equal(ok.status, 303, ok.html.slice(0, 200));
    const callback = await follow(a, signin.jar, ok.headers.get('location') as string);
    const code = callback.location?.searchParams.get('code');
    assert.ok(code, 'a code');
    const tokens = await b.token(web.clientId, web.clientSecret, {
      grant_type: 'authorization_code',
      code,
      redirect_uri: web.redirectUri,
      code_verifier: signin.verifier,
    });
    assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
    const refreshed = await a.token(web.clientId, web.clientSecret, {
      grant_type: 'refresh_token',
      refresh_token: tokens.body.refresh_token as string,
    });
    assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
  });

  test('regression: a client deleted on one instance is refused at once by the other (LISTEN is not lost in the pooler)', async () => {
    const svc = await registerService(a, { [API]: ['read'] });
    // the other instance has the client cached now
    await serviceToken(b, svc);
    await serviceToken(b, svc);
    assert.equal((await a.admin('DELETE', `/clients/${svc.client_id}`)).status, 204);
    await eventually(async () => {
      const res = await b.token(svc.client_id, svc.client_secret, { grant_type: 'client_credentials', resource: API });
      assert.equal(res.status, 401);
    });
  });

  test('a key rotation on one instance reaches the other', async () => {
    const kids = await jwksKids(b);
    const rotated = await a.admin<{ rotated: string[] }>('POST', '/keys/rotate?immediate=true');
    assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
    await eventually(async () => assert.equal((await jwksKids(b)).length, kids.length + 2));
    const svc = await registerService(a, { [API]: ['read'] });
    await eventually(async () => {
      const { header } = await verifyAccessToken(b, await serviceToken(b, svc), API);
      assert.ok(rotated.body.rotated.includes(header.kid as string), 'signed with the new key');
    });
  });
});
