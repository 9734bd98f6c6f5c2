import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { type AddressInfo, createServer } from 'node:net';
import { after, describe, test } from 'node:test';
import { importJWK, SignJWT } from 'jose';
import pg from 'pg';
import { createTestDatabase } from '../helpers/database.ts';
import { registerApi, registerService, verifyAccessToken } from '../helpers/oidc.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const API = 'https://lifecycle.example';

async function serviceToken(server: TestServer, svc: { client_id: string; client_secret: string }) {
  const res = await server.token(svc.client_id, svc.client_secret, { grant_type: 'client_credentials', resource: API });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.access_token as string;
}

async function jwksKids(server: TestServer): Promise<string[]> {
  const res = await fetch(`${server.url}/jwks`);
  const { keys } = (await res.json()) as { keys: { kid: string; d?: string }[] };
  assert.ok(
    keys.every((k) => k.d === undefined),
    'no private key material in the JWKS',
  );
  return keys.map((k) => k.kid).sort();
}

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
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

describe('lifecycle', () => {
  const cleanup: (() => Promise<void>)[] = [];
  after(async () => {
    for (const fn of cleanup.reverse()) await fn();
  });

  test('a restart keeps signing keys, clients and APIs; tokens from before still verify', async () => {
    const database = await createTestDatabase();
    cleanup.push(() => database.drop());
    // a restart keeps the issuer: the same port both times
    const env = { PORT: String(await freePort()) };
    const first = await startTestServer({ database, env });
    await registerApi(first, API, ['read']);
    const svc = await registerService(first, { [API]: ['read'] });
    const before = await serviceToken(first, svc);
    const kidsBefore = await jwksKids(first);
    assert.equal(kidsBefore.length, 2, 'one ES256 and one RS256 key');
    await first.close();

    const second = await startTestServer({ database, env });
    cleanup.push(() => second.close());
    assert.equal(second.issuer, first.issuer);
    assert.deepEqual(await jwksKids(second), kidsBefore);
    await verifyAccessToken(second, before, API);
    await verifyAccessToken(second, await serviceToken(second, svc), API);
  });

  test('a token past its expiry is refused by the admin API and reported inactive', async () => {
    const server = await startTestServer();
    cleanup.push(() => server.close());
    const { privateJwks } = await server.running.app.services.keys.load();
    const jwk = privateJwks.find((k) => k.kty === 'EC');
    assert.ok(jwk);
    const key = await importJWK(jwk as Parameters<typeof importJWK>[0], 'ES256');
    const now = Math.floor(Date.now() / 1000);
    const expired = await new SignJWT({ client_id: server.env.ADMIN_CLIENT_ID, scope: 'admin' })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: jwk.kid as string })
      .setIssuer(server.issuer)
      .setAudience(`${server.issuer}/admin`)
      .setSubject(server.env.ADMIN_CLIENT_ID as string)
      .setJti('expired-token')
      .setIssuedAt(now - 600)
      .setExpirationTime(now - 300)
      .sign(key);
    const res = await server.admin('GET', '/clients', undefined, expired);
    assert.equal(res.status, 401);
    assert.equal((res.body as { error_description: string }).error_description, 'the access token expired');
  });

  test('key rotation: new keys are published first, then sign; the old key stays published', async () => {
    const server = await startTestServer();
    cleanup.push(() => server.close());
    await registerApi(server, API, ['read']);
    const svc = await registerService(server, { [API]: ['read'] });
    const before = await serviceToken(server, svc);
    const kidsBefore = await jwksKids(server);

    // published KEY_PUBLISH_AHEAD_SECONDS (600) before they sign: tokens keep the old key meanwhile
    const ahead = await server.admin<{ rotated: string[] }>('POST', '/keys/rotate');
    assert.equal(ahead.status, 200, JSON.stringify(ahead.body));
    assert.equal(ahead.body.rotated.length, 2);
    await eventually(async () => assert.equal((await jwksKids(server)).length, 4));
    const meanwhile = await verifyAccessToken(server, await serviceToken(server, svc), API);
    assert.ok(kidsBefore.includes(meanwhile.header.kid as string), 'a pending key signs nothing');

    const res = await server.admin<{ rotated: string[] }>('POST', '/keys/rotate?immediate=true');
    assert.equal(res.status, 200, JSON.stringify(res.body));
    await eventually(async () => assert.ok((await jwksKids(server)).includes(res.body.rotated[0] as string)));
    const after = await serviceToken(server, svc);
    const { header } = await verifyAccessToken(server, after, API);
    assert.ok(res.body.rotated.includes(header.kid as string), 'signed with a new key');
    assert.ok(!kidsBefore.includes(header.kid as string));
    await verifyAccessToken(server, before, API);
  });

  test('the same DATA_DIR cannot be opened twice (embedded database)', {
    skip: !!process.env.TEST_DATABASE_URL || !!process.env.DATABASE_URL,
  }, async () => {
    const server = await startTestServer();
    cleanup.push(() => server.close());
    await assert.rejects(
      startTestServer({ database: { ...server.database, drop: async () => {} } }),
      /already open|in use/,
    );
  });

  test('a changed migration stops start-up with a clear message', async () => {
    const database = await createTestDatabase();
    cleanup.push(() => database.drop());
    const server = await startTestServer({ database });
    if (database.kind === 'postgres') {
      await server.close();
      const client = new pg.Client({ connectionString: database.env.DATABASE_URL });
      await client.connect();
      await client.query(`UPDATE "_prisma_migrations" SET checksum = 'tampered' WHERE migration_name LIKE '%_init'`);
      await client.end();
    } else {
      await server.running.app.db.prisma.$executeRawUnsafe(
        `UPDATE "_prisma_migrations" SET checksum = 'tampered' WHERE migration_name LIKE '%_init'`,
      );
      await server.close();
    }
    await assert.rejects(startTestServer({ database }), /migration \S+_init was changed after it was applied/);
  });
});

describe('several instances on one PostgreSQL database', {
  skip: !process.env.TEST_DATABASE_URL && !process.env.DATABASE_URL,
}, () => {
  const cleanup: (() => Promise<void>)[] = [];
  after(async () => {
    for (const fn of cleanup.reverse()) await fn();
  });

  test('two instances starting at once on an empty database migrate once and share one set of keys', async () => {
    const database = await createTestDatabase();
    cleanup.push(() => database.drop());
    // instances behind one load balancer share one issuer
    const env = { ISSUER: 'http://localhost:1' };
    const [a, b] = await Promise.all([startTestServer({ database, env }), startTestServer({ database, env })]);
    cleanup.push(
      () => a.close(),
      () => b.close(),
    );
    const kids = await jwksKids(a);
    assert.equal(kids.length, 2);
    assert.deepEqual(await jwksKids(b), kids);
    const client = new pg.Client({ connectionString: database.env.DATABASE_URL });
    await client.connect();
    const { rows } = await client.query(
      'SELECT migration_name, count(*)::int AS n FROM "_prisma_migrations" GROUP BY 1',
    );
    await client.end();
    assert.ok(rows.length >= 1 && rows.every((r: { n: number }) => r.n === 1), JSON.stringify(rows));

    // a change made through one instance reaches the other's caches
    await registerApi(a, API, ['read', 'write']);
    const svc = await registerService(a, { [API]: ['read', 'write'] });
    assert.equal((await serviceToken(b, svc)).length > 0, true);
    assert.equal((await a.admin('DELETE', `/clients/${svc.client_id}`)).status, 204);
    await eventually(async () => {
      const res = await b.token(svc.client_id, svc.client_secret, { grant_type: 'client_credentials', resource: API });
      assert.equal(res.status, 401);
    });

    // and a key rotation on one reaches the other: published at once, signing at once when immediate
    const ahead = await a.admin<{ rotated: string[] }>('POST', '/keys/rotate');
    await eventually(async () => assert.equal((await jwksKids(b)).length, 4));
    const rotated = await a.admin<{ rotated: string[] }>('POST', '/keys/rotate?immediate=true');
    assert.ok(ahead.body.rotated.every((kid) => !rotated.body.rotated.includes(kid)));
    const svc2 = await registerService(a, { [API]: ['read'] });
    await eventually(async () => {
      const { header } = await verifyAccessToken(b, await serviceToken(b, svc2), API);
      assert.ok(rotated.body.rotated.includes(header.kid as string));
    });
  });
});

describe('npm start', () => {
  test('serves discovery on the port it logs, and exits 0 on SIGTERM', async () => {
    const database = await createTestDatabase({ empty: true });
    // what `npm start` runs: the build, then the JavaScript it wrote (decision 0011)
    execFileSync(process.execPath, ['--disable-warning=ExperimentalWarning', 'scripts/build.mjs'], { stdio: 'ignore' });
    const child = spawn(process.execPath, ['--max-semi-space-size=2', 'dist/src/main.js'], {
      env: {
        ...process.env,
        ...database.env,
        PORT: '0',
        SECRETS_KEY: 'x'.repeat(40),
        LOG_LEVEL: 'info',
        NODE_ENV: 'test',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      let output = '';
      const issuer = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no listening line: ${output}`)), 30_000);
        child.stdout.on('data', (chunk: Buffer) => {
          output += chunk.toString();
          const line = output.split('\n').find((l) => l.includes('"msg":"listening"'));
          if (line) {
            clearTimeout(timer);
            const listening = JSON.parse(line);
            // regression: the URL logged to open is the issuer, not the bound address
            // (127.0.0.1 for an issuer on localhost leads to an expired sign-in page)
            assert.equal(listening.url, listening.issuer);
            assert.match(listening.boundAddress, /^http:\/\/127\.0\.0\.1:\d+$/);
            // regression: start-up says which migrations it applied
            const migrated = output.split('\n').find((l) => l.includes('database migration'));
            assert.ok(migrated, output);
            assert.ok(JSON.parse(migrated).applied.length > 0);
            resolve(listening.issuer);
          }
        });
        child.once('exit', (code) => reject(new Error(`exited with ${code}: ${output}`)));
      });
      const res = await fetch(`${issuer}/.well-known/openid-configuration`);
      assert.equal(res.status, 200);
      assert.equal(((await res.json()) as { issuer: string }).issuer, issuer);
      child.kill('SIGTERM');
      const [code] = await once(child, 'exit');
      assert.equal(code, 0);
    } finally {
      child.kill('SIGKILL');
      await database.drop();
    }
  });

  test('a bad variable stops start-up with one line naming it', async () => {
    const child = spawn(
      process.execPath,
      ['--experimental-strip-types', '--disable-warning=ExperimentalWarning', 'src/main.ts'],
      {
        env: { ...process.env, PORT: 'eighty' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const [code] = await once(child, 'exit');
    assert.equal(code, 2);
    assert.equal(stderr.trim(), 'configuration error: PORT: must be a whole number from 0 to 65535 (got eighty)');
  });
});
