import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import express from 'express';
import fastify from 'fastify';
import { generateKeyPair, SignJWT } from 'jose';
import Koa from 'koa';
import { registerApi, registerService } from '../helpers/oidc.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const PACKAGE_DIR = fileURLToPath(new URL('../../packages/resource-server/', import.meta.url));
const API = 'https://package.example';

type Package = typeof import('../../packages/resource-server/src/index.ts');
type Options = Parameters<Package['createTokenChecker']>[0];

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const listen = async (server: Server) => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
};

/**
 * The package as users install it: built with its own build (tsc, ESM and CommonJS) into a
 * folder of this test, imported from the built JavaScript, in front of real Koa, Express,
 * Fastify and node:http servers, against a live issuer.
 */
describe('@idp/resource-server, built', () => {
  let out: string;
  let esm: Package;
  let cjs: Package;
  let server: TestServer;
  let service: { client_id: string; client_secret: string };
  const closers: (() => unknown)[] = [];

  /** a JWKS endpoint in front of the issuer's, counting requests, that can be made to fail */
  let jwksHits = 0;
  let jwksDown = false;
  let jwksUrl: string;

  const token = async (scope = 'orders:read') => {
    const res = await server.token(service.client_id, service.client_secret, {
      grant_type: 'client_credentials',
      resource: API,
      scope,
    });
    assert.equal(res.status, 200);
    return res.body.access_token as string;
  };
  const options = (extra: Partial<Options> = {}): Options => ({
    issuer: server.issuer,
    audience: API,
    jwksUri: jwksUrl,
    scopes: ['orders:read'],
    ...extra,
  });
  const call = async (url: string, bearer?: string) => {
    const res = await fetch(url, bearer ? { headers: { authorization: `Bearer ${bearer}` } } : {});
    return { status: res.status, www: res.headers.get('www-authenticate'), body: await res.json() };
  };

  before(async () => {
    out = mkdtempSync(join(PACKAGE_DIR, '.test-build-'));
    execFileSync(process.execPath, [join(PACKAGE_DIR, 'build.mjs'), out], { stdio: 'pipe' });
    esm = (await import(pathToFileURL(join(out, 'esm/index.js')).href)) as Package;
    cjs = createRequire(import.meta.url)(join(out, 'cjs/index.js')) as Package;

    server = await startTestServer();
    await registerApi(server, API, ['orders:read', 'orders:write']);
    service = await registerService(server, { [API]: ['orders:read', 'orders:write'] });
    const proxy = createServer(async (_req, res) => {
      jwksHits++;
      if (jwksDown) {
        res.writeHead(503).end();
        return;
      }
      const upstream = await fetch(`${server.url}/jwks`);
      res.writeHead(upstream.status, { 'content-type': 'application/json' }).end(await upstream.text());
    });
    jwksUrl = `${await listen(proxy)}/jwks`;
    closers.push(() => proxy.close());
  });
  after(async () => {
    for (const close of closers) await close();
    await server?.close();
    if (out) rmSync(out, { recursive: true, force: true });
  });

  test('the package ships ESM and CommonJS builds with types, behind an exports map', () => {
    const manifest = JSON.parse(readFileSync(join(PACKAGE_DIR, 'package.json'), 'utf8'));
    assert.equal(manifest.name, '@idp/resource-server');
    assert.deepEqual(Object.keys(manifest.exports['.']), ['import', 'require']);
    assert.deepEqual(Object.keys(manifest.dependencies), ['jose']);
    for (const entry of [esm, cjs]) {
      for (const name of ['koaAccessToken', 'expressAccessToken', 'fastifyAccessToken', 'httpAccessToken']) {
        assert.equal(typeof entry[name as keyof Package], 'function', name);
      }
    }
    for (const dir of ['esm', 'cjs'])
      assert.ok(readFileSync(join(out, dir, 'index.d.ts'), 'utf8').includes('koaAccessToken'));
    assert.match(readFileSync(join(out, 'cjs/index.js'), 'utf8'), /require\("\.\/token-checker\.js"\)/);
  });

  test('Koa, Express, Fastify and node:http accept a good token and refuse as RFC 6750 says', async () => {
    const koa = new Koa();
    koa.use(cjs.koaAccessToken(options()));
    koa.use((ctx) => {
      ctx.body = { sub: (ctx.state.accessToken as { claims: { sub: string } }).claims.sub };
    });
    const koaServer = koa.listen(0, '127.0.0.1');
    await new Promise((resolve) => koaServer.once('listening', resolve));
    closers.push(() => koaServer.close());

    const ex = express();
    ex.get('/orders', esm.expressAccessToken(options()), (_req, res) => {
      res.json({ sub: (res.locals.accessToken as { claims: { sub: string } }).claims.sub });
    });
    const exServer = ex.listen(0, '127.0.0.1');
    await new Promise((resolve) => exServer.once('listening', resolve));
    closers.push(() => exServer.close());

    const fy = fastify();
    fy.decorateRequest('accessToken', null);
    fy.addHook('onRequest', esm.fastifyAccessToken(options()));
    fy.get('/orders', async (request) => ({
      sub: (request as unknown as { accessToken: { claims: { sub: string } } }).accessToken.claims.sub,
    }));
    await fy.listen({ port: 0, host: '127.0.0.1' });
    closers.push(() => fy.close());

    const authenticate = esm.httpAccessToken(options());
    const plain = createServer(async (req, res) => {
      const verified = await authenticate(req, res);
      if (verified) res.end(JSON.stringify({ sub: verified.claims.sub }));
    });
    const plainUrl = await listen(plain);
    closers.push(() => plain.close());

    const urls = {
      koa: `http://127.0.0.1:${(koaServer.address() as AddressInfo).port}/orders`,
      express: `http://127.0.0.1:${(exServer.address() as AddressInfo).port}/orders`,
      fastify: `http://127.0.0.1:${(fy.server.address() as AddressInfo).port}/orders`,
      http: `${plainUrl}/orders`,
    };
    const good = await token();
    const writeOnly = await token('orders:write');
    const other = await generateKeyPair('ES256');
    const forged = await new SignJWT({ client_id: service.client_id, scope: 'orders:read', jti: 'x' })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'unknown-kid' })
      .setIssuer(server.issuer)
      .setAudience(API)
      .setSubject(service.client_id)
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(other.privateKey);
    for (const [name, url] of Object.entries(urls)) {
      const ok = await call(url, good);
      assert.equal(ok.status, 200, name);
      assert.equal(ok.body.sub, service.client_id, name);

      const missing = await call(url);
      assert.equal(missing.status, 401, name);
      assert.match(missing.www ?? '', /^Bearer/, name);
      assert.equal(missing.body.error, 'invalid_request', name);

      const scope = await call(url, writeOnly);
      assert.equal(scope.status, 403, name);
      assert.match(scope.www ?? '', /error="insufficient_scope"/, name);

      const bad = await call(url, forged);
      assert.equal(bad.status, 401, name);
      assert.equal(bad.body.error, 'invalid_token', name);
    }
  });

  test('unknown kids refetch the JWKS at most once per refetchInterval', async () => {
    const checker = esm.createTokenChecker(options({ refetchInterval: 60 }));
    const other = await generateKeyPair('ES256');
    const request = (bearer: string) => ({ headers: { authorization: `Bearer ${bearer}` }, socket: {} as never });
    await checker.check(request(await token()));
    const hits = jwksHits;
    for (let i = 0; i < 20; i++) {
      const forged = await new SignJWT({})
        .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: `kid-${i}` })
        .sign(other.privateKey);
      await assert.rejects(checker.check(request(forged)), { code: 'invalid_token' });
    }
    assert.ok(jwksHits - hits <= 1, `${jwksHits - hits} JWKS requests for 20 unknown kids`);
  });

  test('survives an immediate rotation (refetch on the new kid) and an issuer outage (stale keys)', async () => {
    const authenticate = esm.httpAccessToken(options({ refetchInterval: 0.2, cacheMaxAge: 0.5, staleIfError: 2 }));
    const api = createServer(async (req, res) => {
      const verified = await authenticate(req, res);
      if (verified) res.end(JSON.stringify({ kid: 'ok' }));
    });
    const url = `${await listen(api)}/orders`;
    closers.push(() => api.close());
    assert.equal((await call(url, await token())).status, 200);

    await sleep(250);
    assert.equal((await server.admin('POST', '/keys/rotate?immediate=true')).status, 200);
    assert.equal((await call(url, await token())).status, 200, 'a token signed with the new key');

    // the issuer's JWKS fails: the cached keys keep verifying, past cacheMaxAge
    const during = await token();
    jwksDown = true;
    try {
      await sleep(700);
      assert.equal((await call(url, during)).status, 200, 'stale-while-error');
      // until staleIfError: then the API says it cannot check (503), not that the token is bad
      await sleep(2000);
      const gone = await call(url, during);
      assert.equal(gone.status, 503);
      assert.equal(gone.body.error, 'temporarily_unavailable');
    } finally {
      jwksDown = false;
    }
    await sleep(1000);
    assert.equal((await call(url, during)).status, 200, 'back once the issuer answers');
  });
});
