import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import type { TestDatabase } from '../helpers/database.ts';
import { createUser, postLogin, registerWebClient, startSignIn } from '../helpers/form-signin.ts';
import { registerApi, registerService, verifyAccessToken } from '../helpers/oidc.ts';
import { havePostgresBinaries, type PrivatePostgres, startPrivatePostgres } from '../helpers/private-postgres.ts';
import { ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET, startTestServer, type TestServer } from '../helpers/server.ts';

// These tests stop and start PostgreSQL, so they run on a private server of their own (the
// shared one is never stopped), whatever TEST_DATABASE_URL says.

const API = 'https://outage.example';
const PASSWORD = 'correct horse battery staple';
const skip = !havePostgresBinaries && 'needs the PostgreSQL 15 server binaries (/usr/lib/postgresql/15/bin)';

async function eventually<T>(check: () => Promise<T>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

async function query<T extends Record<string, unknown>>(url: string, sql: string, params: unknown[] = []) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

const page = (path: string, server: TestServer, cookie = '') =>
  fetch(`${server.url}${path}`, { redirect: 'manual', headers: { accept: 'text/html', cookie } });

/** what a 503 for a browser must be: a page of ours, with Retry-After, saying nothing of internals */
async function assertUnavailablePage(res: Response, what: string) {
  const html = await res.text();
  assert.equal(res.status, 503, `${what}: ${res.status} ${html.slice(0, 200)}`);
  assert.match(res.headers.get('retry-after') ?? '', /^\d+$/, `${what}: Retry-After`);
  assert.match(res.headers.get('content-type') ?? '', /text\/html/, what);
  assert.match(html, /Temporarily unavailable/, what);
  assert.doesNotMatch(html, /oops|ECONNREFUSED|Connection terminated|P1001|prisma/i, what);
}

/** what a 503 for a program must be: RFC 6749's error JSON with Retry-After */
async function assertUnavailableJson(res: Response, what: string) {
  const text = await res.text();
  assert.equal(res.status, 503, `${what}: ${res.status} ${text.slice(0, 200)}`);
  assert.match(res.headers.get('retry-after') ?? '', /^\d+$/, `${what}: Retry-After`);
  const body = JSON.parse(text) as { error: string; error_description: string };
  assert.equal(body.error, 'temporarily_unavailable', what);
  assert.doesNotMatch(text, /ECONNREFUSED|Connection terminated|P1001|prisma/i, what);
}

describe('during a PostgreSQL outage', { skip }, () => {
  let postgres: PrivatePostgres;
  let server: TestServer;
  let svc: { client_id: string; client_secret: string };
  let web: Awaited<ReturnType<typeof registerWebClient>>;
  let adminToken: string;
  let pendingSignIn: Awaited<ReturnType<typeof startSignIn>>;
  let outageStart: Date;
  let outageEnd: Date;

  before(async () => {
    postgres = await startPrivatePostgres();
    const database: TestDatabase = { kind: 'postgres', env: { DATABASE_URL: postgres.url() }, drop: async () => {} };
    server = await startTestServer({ database, env: { SIGNIN_DELAY_MS: '1' } });
    await registerApi(server, API, ['read']);
    svc = await registerService(server, { [API]: ['read'] });
    web = await registerWebClient(server);
    await createUser(server, 'outage-user', PASSWORD);
    adminToken = await server.adminToken();
    // the service has fetched a token before: its client and API are known to this instance
    const warm = await server.token(svc.client_id, svc.client_secret, {
      grant_type: 'client_credentials',
      resource: API,
    });
    assert.equal(warm.status, 200, JSON.stringify(warm.body));
    // a person has the sign-in page open when the database goes
    pendingSignIn = await startSignIn(server, web);
    await server.running.app.services.events.flush();
    outageStart = new Date();
    postgres.crash();
  });
  after(async () => {
    await server?.close();
    postgres?.destroy();
  });

  test('regression: a known client still gets client-credentials tokens (static stability)', async () => {
    for (let i = 0; i < 3; i++) {
      const res = await server.token(svc.client_id, svc.client_secret, {
        grant_type: 'client_credentials',
        resource: API,
        scope: 'read',
      });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      const { payload } = await verifyAccessToken(server, res.body.access_token as string, API);
      assert.equal(payload.client_id, svc.client_id);
      assert.equal(payload.scope, 'read');
    }
    // a wrong secret is still refused as one, not as an outage
    const wrong = await server.token(svc.client_id, 'not-the-secret', {
      grant_type: 'client_credentials',
      resource: API,
    });
    assert.equal(wrong.status, 401, JSON.stringify(wrong.body));
    assert.equal(wrong.body.error, 'invalid_client');
  });

  test('regression: /token for what needs the database answers 503 temporarily_unavailable with Retry-After, not 500 "oops! something went wrong"', async () => {
    // an unknown client cannot be looked up
    await assertUnavailableJson(
      await fetch(`${server.url}/token`, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from('never-seen:secret').toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({ grant_type: 'client_credentials', resource: API, scope: 'read' }),
      }),
      'token for an unknown client',
    );
    // a code exchange reads the code from the database
    await assertUnavailableJson(
      await fetch(`${server.url}/token`, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`${web.clientId}:${web.clientSecret}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code: 'a'.repeat(43),
          redirect_uri: web.redirectUri,
          code_verifier: 'v'.repeat(43),
        }),
      }),
      'code exchange',
    );
  });

  test('regression: /auth and the sign-in page answer a 503 page with Retry-After, not 500 "oops! something went wrong"', async () => {
    const params = new URLSearchParams({
      response_type: 'code',
      client_id: web.clientId,
      redirect_uri: web.redirectUri,
      scope: 'openid',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256',
    });
    await assertUnavailablePage(await page(`/auth?${params}`, server), 'GET /auth');
    const path = `/interaction/${pendingSignIn.uid}`;
    await assertUnavailablePage(await page(path, server, pendingSignIn.jar.header(path)), 'GET the sign-in page');
    const login = await postLogin(server, pendingSignIn, 'outage-user', PASSWORD, { accept: 'text/html' });
    assert.equal(login.status, 503, login.html.slice(0, 200));
    assert.match(login.headers.get('retry-after') ?? '', /^\d+$/);
    assert.match(login.html, /Temporarily unavailable/);
  });

  test('an event of the written-at-once class waits in memory: the request it belongs to neither fails nor hangs', async () => {
    const { events } = server.running.app.services;
    const start = performance.now();
    const answer = await events.durably(async () => {
      events.record({ type: 'session.revoked', subject: 'outage-subject', details: { reason: 'test' } });
      return 'answered';
    });
    assert.equal(answer, 'answered');
    assert.ok(performance.now() - start < 2000, 'not held for the database');
  });

  test('regression: the admin API answers 503 JSON with Retry-After; /readyz answers 503', async () => {
    const call = (method: string, path: string, body?: unknown) =>
      fetch(`${server.url}/admin${path}`, {
        method,
        headers: {
          authorization: `Bearer ${adminToken}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    await assertUnavailableJson(await call('GET', '/clients'), 'GET /admin/clients');
    await assertUnavailableJson(await call('POST', '/roles', { name: 'during-outage' }), 'POST /admin/roles');
    const ready = await fetch(`${server.url}/readyz`);
    assert.equal(ready.status, 503);
  });

  test('regression: after the database returns everything works, and the events of the outage are stored', async () => {
    outageEnd = new Date();
    await postgres.start();
    await eventually(async () => assert.equal((await fetch(`${server.url}/readyz`)).status, 200));
    const token = await server.token(svc.client_id, svc.client_secret, {
      grant_type: 'client_credentials',
      resource: API,
    });
    assert.equal(token.status, 200, JSON.stringify(token.body));
    await eventually(async () => {
      const res = await server.admin('POST', '/roles', { name: 'after-outage' });
      assert.equal(res.status, 201, JSON.stringify(res.body));
    });
    const signIn = await startSignIn(server, web);
    const login = await postLogin(server, signIn, 'outage-user', PASSWORD);
    assert.equal(login.status, 303, login.html.slice(0, 200));

    // the tokens issued and the refused secret during the outage waited in memory, and are stored now
    const during = await eventually(async () => {
      const rows = await query<{ type: string; details: { count?: number } }>(
        postgres.url(),
        `SELECT type, details FROM security_events WHERE client_id = $1 AND occurred_at BETWEEN $2 AND $3`,
        [svc.client_id, outageStart, outageEnd],
      );
      assert.ok(
        rows.some((r) => r.type === 'token.issued'),
        JSON.stringify(rows),
      );
      assert.ok(
        rows.some((r) => r.type === 'client.auth_failed'),
        JSON.stringify(rows),
      );
      return rows;
    });
    await eventually(async () => {
      const rows = await query(postgres.url(), `SELECT 1 FROM security_events WHERE subject = 'outage-subject'`);
      assert.equal(rows.length, 1);
    });
    const issued = during.filter((r) => r.type === 'token.issued').reduce((n, r) => n + (r.details.count ?? 1), 0);
    assert.equal(issued, 3, 'the three tokens of the outage');
  });
});

describe('security events and a crash of the process', { skip }, () => {
  let postgres: PrivatePostgres;
  let child: ChildProcess | undefined;
  after(() => {
    if (child?.exitCode === null) child.kill('SIGKILL');
    postgres?.destroy();
  });

  test('regression: an admin change and a failed sign-in answered just before a kill -9 are in the event log', async () => {
    postgres = await startPrivatePostgres();
    await query(postgres.url(), 'CREATE DATABASE crash');
    const databaseUrl = postgres.url('crash');
    child = spawn(
      process.execPath,
      ['--experimental-strip-types', '--disable-warning=ExperimentalWarning', 'src/main.ts'],
      {
        env: {
          PATH: process.env.PATH,
          NODE_ENV: 'test',
          PORT: '0',
          DATABASE_URL: databaseUrl,
          SECRETS_KEY: 'crash-secrets-key-0123456789abcdef0123456789abcdef',
          ADMIN_CLIENT_ID,
          ADMIN_CLIENT_SECRET,
          LOG_LEVEL: 'info',
          SIGNIN_DELAY_MS: '1',
        },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const proc = child;
    const base = await new Promise<string>((resolve, reject) => {
      let output = '';
      const timer = setTimeout(() => reject(new Error(`no listening line: ${output}`)), 60_000);
      proc.stdout?.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        const line = output.split('\n').find((l) => l.includes('"msg":"listening"'));
        if (line) {
          clearTimeout(timer);
          resolve((JSON.parse(line) as { url: string }).url);
        }
      });
      proc.once('exit', (code) => reject(new Error(`the server exited with ${code}: ${output}`)));
    });
    // the server in another process: the sign-in helpers need only these parts of a TestServer
    const issuer = base;
    const tokenRes = await fetch(`${base}/token`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${ADMIN_CLIENT_ID}:${ADMIN_CLIENT_SECRET}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ grant_type: 'client_credentials', resource: `${issuer}/admin`, scope: 'admin' }),
    });
    const adminToken = ((await tokenRes.json()) as { access_token: string }).access_token;
    const admin = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${base}/admin${path}`, {
        method,
        headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return { status: res.status, headers: res.headers, body: (await res.json()) as never };
    };
    const remote = { url: base, issuer, admin } as unknown as TestServer;
    const web = await registerWebClient(remote);
    const signIn = await startSignIn(remote, web);

    const role = await admin('POST', '/roles', { name: 'made-before-the-crash' });
    assert.equal(role.status, 201);
    const failed = await postLogin(remote, signIn, 'nobody-by-this-name', 'wrong password');
    assert.equal(failed.status, 200, 'the sign-in page again, with an error');
    proc.kill('SIGKILL');
    await once(proc, 'exit');

    const rows = await query<{ type: string; subject: string | null }>(
      databaseUrl,
      `SELECT type, subject FROM security_events WHERE type IN ('role.created', 'signin.failed')`,
    );
    const roleId = (role.body as { id: string }).id;
    assert.ok(
      rows.some((r) => r.type === 'role.created' && r.subject === roleId),
      `role.created: ${JSON.stringify(rows)}`,
    );
    assert.ok(
      rows.some((r) => r.type === 'signin.failed'),
      `signin.failed: ${JSON.stringify(rows)}`,
    );
  });
});
