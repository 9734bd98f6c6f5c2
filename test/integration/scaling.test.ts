import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { loadConfig } from '../../src/config/index.ts';
import { createLogger } from '../../src/logger.ts';
import { startServer } from '../../src/server.ts';
import { createTestDatabase, postgresServerUrl, type TestDatabase } from '../helpers/database.ts';
import { createDpopKey, type DpopKey } from '../helpers/dpop.ts';
import { registerWebClient } from '../helpers/form-signin.ts';
import { registerApi, registerService } from '../helpers/oidc.ts';
import { ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET, startTestServer, type TestServer } from '../helpers/server.ts';

// Several instances of one deployment behind a load balancer: what one instance accepts or
// counts, every instance must see; a slow Redis must not stall them; a starting instance must
// not take traffic; and no URL it hands out may come from what a request claims.

const API = 'https://scaling.example';
const needsPostgres = postgresServerUrl === undefined && 'two instances need PostgreSQL (TEST_DATABASE_URL)';
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

/** A private Redis on a free port, so that it can be stopped without touching anyone else's. */
async function startRedis(): Promise<{ url: string; process: ChildProcess; stop(): Promise<void> }> {
  const port = await freePort();
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {
      stdio: 'ignore',
    },
  );
  const url = `redis://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => {});
    try {
      await probe.connect();
      await probe.ping();
      break;
    } catch (err) {
      if (i > 50) {
        child.kill('SIGKILL');
        throw err;
      }
      await sleep(100);
    } finally {
      probe.disconnect();
    }
  }
  return {
    url,
    process: child,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGCONT');
      child.kill('SIGKILL');
      await exited;
    },
  };
}

const namespaceOf = (issuer: string) => `idp:${createHash('sha256').update(issuer).digest('hex').slice(0, 12)}`;

function tokenRequest(server: TestServer, svc: { client_id: string; client_secret: string }, viaBody = false) {
  return fetch(`${server.url}/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      ...(viaBody ? {} : { authorization: basic(svc.client_id, svc.client_secret) }),
    },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      resource: API,
      ...(viaBody ? { client_id: svc.client_id, client_secret: svc.client_secret } : {}),
    }),
  });
}

/** `total` token requests, `inFlight` at a time, spread over `servers`; the statuses seen */
async function burst(
  servers: TestServer[],
  svc: { client_id: string; client_secret: string },
  total: number,
  inFlight: number,
  viaBody = false,
) {
  const statuses: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < total) {
        const i = next++;
        const res = await tokenRequest(servers[i % servers.length] as TestServer, svc, viaBody);
        await res.arrayBuffer();
        statuses.push(res.status);
      }
    }),
  );
  return {
    issued: statuses.filter((s) => s === 200).length,
    refused: statuses.filter((s) => s === 429).length,
    other: statuses.filter((s) => s !== 200 && s !== 429),
  };
}

/** A DPoP-bound admin token: the first request fetches the server's nonce. */
async function dpopAdminToken(server: TestServer, key: DpopKey) {
  const params = { grant_type: 'client_credentials', resource: `${server.issuer}/admin`, scope: 'admin' };
  const send = async (proof: string) =>
    fetch(`${server.url}/token`, {
      method: 'POST',
      headers: {
        authorization: basic(ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET),
        'content-type': 'application/x-www-form-urlencoded',
        dpop: proof,
      },
      body: new URLSearchParams(params),
    });
  const first = await send(await key.proof('POST', `${server.issuer}/token`));
  const nonce = first.headers.get('dpop-nonce') ?? '';
  return { nonce, send };
}

/** A raw HTTP/1.1 request, so that Host and the request target can be anything. */
function rawGet(url: string, path: string, headers: Record<string, string>) {
  const { hostname, port } = new URL(url);
  return new Promise<{ status: number; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
    const req = httpRequest({ host: hostname === 'localhost' ? '127.0.0.1' : hostname, port, path, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('several instances on one PostgreSQL database', { skip: needsPostgres }, () => {
  let database: TestDatabase;
  let redis: Awaited<ReturnType<typeof startRedis>>;
  let a: TestServer;
  let b: TestServer;
  const issuer = 'http://localhost:1';

  before(async () => {
    database = await createTestDatabase();
    redis = await startRedis();
    const env = { ISSUER: issuer, REDIS_URL: redis.url, RATE_LIMIT_WINDOW: '600', RATE_LIMIT_TOKEN: '30' };
    const shared = { ...database, drop: async () => {} };
    a = await startTestServer({ database: shared, env });
    b = await startTestServer({ database: shared, env });
    await registerApi(a, API, ['scaling:read']);
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await database?.drop();
    await redis?.stop();
  });

  test('regression: a DPoP proof accepted by the admin API on one instance is refused by another', async () => {
    const key = await createDpopKey();
    const { nonce, send } = await dpopAdminToken(a, key);
    const res = await send(await key.proof('POST', `${issuer}/token`, { nonce }));
    assert.equal(res.status, 200, await res.clone().text());
    const token = ((await res.json()) as { access_token: string }).access_token;
    const proof = await key.proof('GET', `${issuer}/admin/clients`, { accessToken: token });
    const headers = { authorization: `DPoP ${token}`, dpop: proof };
    assert.equal((await fetch(`${a.url}/admin/clients`, { headers })).status, 200);
    const replayed = await fetch(`${b.url}/admin/clients`, { headers });
    assert.equal(replayed.status, 401, 'the other instance accepted a replayed proof');
    assert.match(((await replayed.json()) as { error_description: string }).error_description, /replay|used/i);
    // a new proof with the same token works on the other instance
    const fresh = await key.proof('GET', `${issuer}/admin/clients`, { accessToken: token });
    assert.equal((await fetch(`${b.url}/admin/clients`, { headers: { ...headers, dpop: fresh } })).status, 200);
  });

  test('regression: one DPoP proof sent to the token endpoint of two instances at once is accepted once', async () => {
    for (let round = 0; round < 5; round++) {
      const key = await createDpopKey();
      const { nonce, send } = await dpopAdminToken(a, key);
      const proof = await key.proof('POST', `${issuer}/token`, { nonce });
      const toB = () =>
        fetch(`${b.url}/token`, {
          method: 'POST',
          headers: {
            authorization: basic(ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET),
            'content-type': 'application/x-www-form-urlencoded',
            dpop: proof,
          },
          body: new URLSearchParams({ grant_type: 'client_credentials', resource: `${issuer}/admin`, scope: 'admin' }),
        });
      const [one, two, other] = await Promise.all([send(proof), toB(), toB()]);
      const statuses = [one.status, two.status, other.status];
      assert.equal(statuses.filter((s) => s === 200).length, 1, `round ${round}: ${statuses}`);
      assert.ok(
        statuses.every((s) => s === 200 || s === 400),
        `round ${round}: a replay is a 400, never a 5xx: ${statuses}`,
      );
    }
  });

  test('regression: 60 token requests, 6 in flight, over two instances sharing Redis issue exactly 30 tokens', async () => {
    const basicClient = await registerService(a, { [API]: ['scaling:read'] });
    const basicRun = await burst([a, b], basicClient, 60, 6);
    assert.deepEqual(basicRun, { issued: 30, refused: 30, other: [] });
    const bodyClient = await registerService(
      a,
      { [API]: ['scaling:read'] },
      { token_endpoint_auth_method: 'client_secret_post' },
    );
    const bodyRun = await burst([a, b], bodyClient, 60, 6, true);
    assert.deepEqual(bodyRun, { issued: 30, refused: 30, other: [] });
  });

  test('a secret added or removed on one instance, and a federated issuer removed, count on the other within seconds', async () => {
    const tokenAt = (server: TestServer, body: Record<string, string>, authorization?: string) =>
      fetch(`${server.url}/token`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          ...(authorization ? { authorization } : {}),
        },
        body: new URLSearchParams({ grant_type: 'client_credentials', resource: API, ...body }),
      }).then((r) => r.status);
    const until = async (check: () => Promise<boolean>) => {
      for (let i = 0; i < 50 && !(await check()); i++) await sleep(100);
      assert.ok(await check(), 'not seen by the other instance within 5 seconds');
    };
    const service = await registerService(a, { [API]: ['scaling:read'] });
    // b caches the client with its one secret
    assert.equal(await tokenAt(b, {}, basic(service.client_id, service.client_secret)), 200);
    const added = await a.admin<{ id: string; secret: string }>('POST', `/clients/${service.client_id}/secrets`, {
      name: 'second',
    });
    await until(async () => (await tokenAt(b, {}, basic(service.client_id, added.body.secret))) === 200);
    await a.admin('DELETE', `/clients/${service.client_id}/secrets/${added.body.id}`);
    await until(async () => (await tokenAt(b, {}, basic(service.client_id, added.body.secret))) === 401);

    // workload identity, keys by value: trusted on b until a removes the issuer
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1' };
    const created = await a.admin<{ id: string }>('POST', '/federated-issuers', {
      issuer: 'https://ci.scaling.test',
      jwks: { keys: [jwk] },
      audience: issuer,
    });
    assert.equal(created.status, 201);
    await a.admin('PATCH', `/clients/${service.client_id}`, {
      federatedSubjects: [{ issuer: 'https://ci.scaling.test', subject: 'repo:acme/shop:ref:refs/heads/main' }],
    });
    const assertion = await new SignJWT({ sub: 'repo:acme/shop:ref:refs/heads/main', aud: issuer })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer('https://ci.scaling.test')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(privateKey);
    const federated = {
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
    };
    await until(async () => (await tokenAt(b, federated)) === 200);
    await a.admin('DELETE', `/federated-issuers/${created.body.id}`);
    await until(async () => (await tokenAt(b, federated)) === 401);
  });
});

describe('one instance', () => {
  let server: TestServer;
  let svc: { client_id: string; client_secret: string };

  before(async () => {
    server = await startTestServer({ env: { RATE_LIMIT_WINDOW: '600', RATE_LIMIT_TOKEN: '30' } });
    await registerApi(server, API, ['scaling:read']);
    svc = await registerService(server, { [API]: ['scaling:read'] });
  });
  after(() => server?.close());

  test('regression: 60 token requests with 6 in flight issue exactly 30 tokens against a limit of 30', async () => {
    assert.deepEqual(await burst([server], svc, 60, 6), { issued: 30, refused: 30, other: [] });
  });

  test('a wrong secret in a client’s name does not use up its allowance, even in flight together', async () => {
    const victim = await registerService(server, { [API]: ['scaling:read'] });
    const wrong = { client_id: victim.client_id, client_secret: 'not-the-secret' };
    const guesses = await burst([server], wrong, 12, 6);
    assert.equal(guesses.issued, 0);
    assert.deepEqual(await burst([server], victim, 30, 6), { issued: 30, refused: 0, other: [] });
  });

  test('regression: an admin API DPoP proof is refused on replay to the same instance', async () => {
    const key = await createDpopKey();
    const { nonce, send } = await dpopAdminToken(server, key);
    const res = await send(await key.proof('POST', `${server.issuer}/token`, { nonce }));
    const token = ((await res.json()) as { access_token: string }).access_token;
    const headers = {
      authorization: `DPoP ${token}`,
      dpop: await key.proof('GET', `${server.issuer}/admin/clients`, { accessToken: token }),
    };
    assert.equal((await fetch(`${server.url}/admin/clients`, { headers })).status, 200);
    assert.equal((await fetch(`${server.url}/admin/clients`, { headers })).status, 401);
  });
});

describe('a Redis that hangs', () => {
  let redis: Awaited<ReturnType<typeof startRedis>>;
  let server: TestServer;

  before(async () => {
    redis = await startRedis();
    server = await startTestServer({
      env: { REDIS_URL: redis.url, RATE_LIMIT_WINDOW: '600', RATE_LIMIT_TOKEN: '5' },
    });
    await registerApi(server, API, ['scaling:read']);
  });
  after(async () => {
    await server?.close();
    await redis?.stop();
  });

  test('regression: token requests answer within a second while Redis hangs, and limits are shared again once it answers', async () => {
    const during = await registerService(server, { [API]: ['scaling:read'] });
    assert.equal((await tokenRequest(server, during)).status, 200);

    redis.process.kill('SIGSTOP');
    const latencies: number[] = [];
    const statuses: number[] = [];
    try {
      for (let i = 0; i < 8; i++) {
        const started = performance.now();
        const res = await tokenRequest(server, during);
        await res.arrayBuffer();
        latencies.push(Math.round(performance.now() - started));
        statuses.push(res.status);
      }
    } finally {
      redis.process.kill('SIGCONT');
    }
    process.stderr.write(`token latencies while Redis hangs (ms): ${latencies.join(', ')}\n`);
    assert.ok(Math.max(...latencies) < 1000, `a token request took ${Math.max(...latencies)} ms`);
    // the limit still holds while Redis hangs, counted in this instance's memory
    assert.ok(statuses.includes(429), `no limit while Redis hung: ${statuses}`);
    assert.ok(
      statuses.slice(0, 4).every((s) => s === 200),
      `${statuses}`,
    );

    // Redis answers again: after the fallback's pause, counts go to Redis again
    await sleep(1500);
    const after = await registerService(server, { [API]: ['scaling:read'] });
    const run = await burst([server], after, 7, 1);
    assert.deepEqual(run, { issued: 5, refused: 2, other: [] });
    const probe = new Redis(redis.url);
    try {
      const keys = await probe.keys(`${namespaceOf(server.issuer)}:token*${after.client_id}`);
      assert.equal(keys.length, 1, 'the counter is in Redis again');
    } finally {
      probe.disconnect();
    }
  });
});

describe('a starting instance', () => {
  test('regression: a starting instance does not accept connections before it can serve (no 503 starting)', async () => {
    const database = await createTestDatabase();
    const port = await freePort();
    const env = {
      NODE_ENV: 'test',
      PORT: String(port),
      SECRETS_KEY: 'test-secrets-key-0123456789abcdef0123456789abcdef',
      LOG_LEVEL: 'silent',
      ...database.env,
    };
    const seen: string[] = [];
    let done = false;
    const poll = (async () => {
      while (!done) {
        try {
          const res = await fetch(`http://127.0.0.1:${port}/healthz`);
          seen.push(String(res.status));
        } catch {
          seen.push('refused');
        }
        await sleep(5);
      }
    })();
    let running: Awaited<ReturnType<typeof startServer>> | undefined;
    try {
      running = await startServer(loadConfig(env), createLogger('silent'));
      const res = await fetch(`http://127.0.0.1:${port}/healthz`);
      assert.equal(res.status, 200);
    } finally {
      done = true;
      await poll;
      await running?.close(500);
      await database.drop();
    }
    assert.ok(seen.includes('refused'), 'the poll ran while the instance was starting');
    assert.deepEqual(
      seen.filter((s) => s !== 'refused' && s !== '200'),
      [],
      'answered something else than 200 while starting',
    );
  });
});

for (const trustProxy of ['false', 'true'] as const) {
  describe(`absolute URLs with TRUST_PROXY=${trustProxy}`, () => {
    let server: TestServer;
    const issuer = 'http://localhost:1';

    before(async () => {
      server = await startTestServer({ env: { ISSUER: issuer, TRUST_PROXY: trustProxy } });
    });
    after(() => server?.close());

    const spoofing = {
      host: 'evil.example',
      'x-forwarded-host': 'evil.example',
      'x-forwarded-proto': 'https',
    };

    test('regression: discovery derives every endpoint URL from ISSUER, not from Host or X-Forwarded-Host', async () => {
      for (const path of ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server']) {
        for (const headers of [{ host: 'evil.example' }, spoofing]) {
          const res = await rawGet(server.url, path, headers);
          assert.equal(res.status, 200, res.body);
          const urls = JSON.stringify(JSON.parse(res.body)).match(/https?:\/\/[^"]+/g) ?? [];
          assert.ok(urls.length > 5);
          const foreign = urls.filter((u) => !u.startsWith(`${issuer}/`) && u !== issuer);
          assert.deepEqual(foreign, [], `${path} with ${JSON.stringify(headers)}`);
        }
      }
    });

    test('regression: an absolute-form request target does not name the endpoints either', async () => {
      const res = await rawGet(server.url, 'http://evil.example/.well-known/openid-configuration', {
        host: 'evil.example',
      });
      assert.equal(res.status, 200, res.body);
      assert.equal((JSON.parse(res.body) as { token_endpoint: string }).token_endpoint, `${issuer}/token`);
    });

    test('redirects to the sign-in pages stay on the issuer', async () => {
      const web = await registerWebClient(server);
      const query = new URLSearchParams({
        client_id: web.clientId,
        redirect_uri: web.redirectUri,
        response_type: 'code',
        scope: 'openid',
        code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGjSstw-cM',
        code_challenge_method: 'S256',
      });
      const res = await rawGet(server.url, `/auth?${query}`, spoofing);
      assert.equal(res.status, 303, res.body);
      const location = String(res.headers.location);
      assert.ok(location.startsWith('/') || location.startsWith(`${issuer}/`), location);
      assert.doesNotMatch(location, /evil/);
    });

    test('regression: the admin API checks a DPoP proof’s htu against ISSUER, not against the Host header', async () => {
      const key = await createDpopKey();
      const { nonce, send } = await dpopAdminToken(server, key);
      const res = await send(await key.proof('POST', `${issuer}/token`, { nonce }));
      assert.equal(res.status, 200, await res.clone().text());
      const token = ((await res.json()) as { access_token: string }).access_token;
      const forged = await key.proof('GET', 'http://evil.example/admin/clients', { accessToken: token });
      const refused = await rawGet(server.url, '/admin/clients', {
        ...spoofing,
        authorization: `DPoP ${token}`,
        dpop: forged,
      });
      assert.equal(refused.status, 401, refused.body);
      const right = await key.proof('GET', `${issuer}/admin/clients`, { accessToken: token });
      const accepted = await rawGet(server.url, '/admin/clients', {
        ...spoofing,
        authorization: `DPoP ${token}`,
        dpop: right,
      });
      assert.equal(accepted.status, 200, accepted.body);
    });
  });
}
