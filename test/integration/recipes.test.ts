import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { decodeProtectedHeader } from 'jose';
import { registerApi, registerService } from '../helpers/oidc.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const RECIPES = fileURLToPath(new URL('../../docs/recipes/', import.meta.url));
const API = 'https://orders.example';
/** Debian's golang-github-golang-jwt-jwt-dev: the module, without a module proxy */
const GO_JWT = '/usr/share/gocode/src/github.com/golang-jwt/jwt';

const works = (cmd: string, args: string[]) => {
  try {
    execFileSync(cmd, args, { stdio: 'ignore', timeout: 20_000 });
    return true;
  } catch {
    return false;
  }
};
// PyJWT with cryptography (Debian's python3-jwt): the system Python, or whichever python3 has it
const python = ['/usr/bin/python3', 'python3'].find((cmd) => works(cmd, ['-c', 'import jwt, cryptography']));
const hasGo = works('go', ['version']) && existsSync(GO_JWT);

/** Starts a recipe and waits for its "listening on host:port" line. */
async function start(cmd: string, args: string[], env: Record<string, string>, cwd: string) {
  const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${cmd} did not start: ${output}`)), 30_000);
    const read = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on ([\d.]+:\d+)/.exec(output);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(`http://${match[1]}/orders`);
      }
    };
    child.stdout.on('data', read);
    child.stderr.on('data', read);
    child.once('exit', (code) => reject(new Error(`${cmd} exited ${code}: ${output}`)));
  });
  return { child, url };
}

/**
 * The Go and Python recipes of docs/resource-servers.md, run as written against a live issuer
 * that publishes new keys 2 s ahead (the recipes cache the JWKS for 1 s here, 5 min by default).
 * Java and .NET do not run here: their recipes are documented as untested.
 */
describe('resource-server recipes in other languages', { skip: !hasGo && !python && 'neither Go nor PyJWT' }, () => {
  let server: TestServer;
  let service: { client_id: string; client_secret: string };
  const apis: { name: string; url: string }[] = [];
  const children: ChildProcess[] = [];
  let goDir: string | undefined;

  const token = async (scope: string, resource = API) => {
    const res = await server.token(service.client_id, service.client_secret, {
      grant_type: 'client_credentials',
      resource,
      scope,
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body.access_token as string;
  };
  const call = async (url: string, bearer?: string) => {
    const res = await fetch(url, bearer ? { headers: { authorization: `Bearer ${bearer}` } } : {});
    return { status: res.status, www: res.headers.get('www-authenticate') ?? '', body: await res.text() };
  };

  before(async () => {
    server = await startTestServer({ env: { KEY_PUBLISH_AHEAD_SECONDS: '2' } });
    await registerApi(server, API, ['orders:read', 'orders:write']);
    await registerApi(server, 'https://other.example', ['orders:read']);
    service = await registerService(server, {
      [API]: ['orders:read', 'orders:write'],
      'https://other.example': ['orders:read'],
    });
    const env = { ISSUER: server.issuer, AUDIENCE: API, JWKS_URI: `${server.url}/jwks`, PORT: '0', JWKS_MAX_AGE: '1' };
    if (hasGo) {
      goDir = mkdtempSync(join(tmpdir(), 'recipe-go-'));
      cpSync(join(RECIPES, 'go'), goDir, { recursive: true });
      appendFileSync(join(goDir, 'go.mod'), `\nreplace github.com/golang-jwt/jwt/v4 => ${GO_JWT}\n`);
      const goEnv = { ...process.env, GOFLAGS: '-mod=mod', GOPROXY: 'off', GOSUMDB: 'off' };
      execFileSync('go', ['build', '-o', 'orders-api', '.'], { cwd: goDir, env: goEnv, stdio: 'pipe' });
      const go = await start(join(goDir, 'orders-api'), [], env, goDir);
      children.push(go.child);
      apis.push({ name: 'go', url: go.url });
    }
    if (python) {
      const py = await start(python, ['orders_api.py'], env, join(RECIPES, 'python'));
      children.push(py.child);
      apis.push({ name: 'python', url: py.url });
    }
  });
  after(async () => {
    for (const child of children) child.kill();
    await server?.close();
    if (goDir) rmSync(goDir, { recursive: true, force: true });
  });

  test('accept a good token; refuse a missing one, another API, a missing scope, an ID-token type', async () => {
    const good = await token('orders:read');
    const writeOnly = await token('orders:write');
    const elsewhere = await token('orders:read', 'https://other.example');
    // the same signed content under a header claiming another type: the signature breaks, and
    // the type check refuses it first
    const [, payload, signature] = good.split('.');
    const retyped = `${Buffer.from(JSON.stringify({ ...decodeProtectedHeader(good), typ: 'JWT' })).toString('base64url')}.${payload}.${signature}`;
    assert.equal(apis.length, Number(hasGo) + Number(python !== undefined));
    for (const { name, url } of apis) {
      const ok = await call(url, good);
      assert.equal(ok.status, 200, `${name}: ${ok.body}`);
      assert.equal(JSON.parse(ok.body).sub, service.client_id, name);
      const missing = await call(url);
      assert.equal(missing.status, 401, name);
      assert.match(missing.www, /^Bearer/, name);
      assert.equal((await call(url, elsewhere)).status, 401, `${name}: another API's token`);
      assert.equal((await call(url, retyped)).status, 401, `${name}: typ must be at+jwt`);
      const scope = await call(url, writeOnly);
      assert.equal(scope.status, 403, name);
      assert.match(scope.www, /insufficient_scope/, name);
    }
  });

  test('a key rotation refuses no token', async () => {
    const before = decodeProtectedHeader(await token('orders:read')).kid;
    for (const { url } of apis) assert.equal((await call(url, await token('orders:read'))).status, 200);
    const rotated = await server.admin<{ activates_at: string }>('POST', '/keys/rotate');
    const end = Date.parse(rotated.body.activates_at) + 2000;
    const refused: string[] = [];
    const kids = new Set<string>();
    while (Date.now() < end) {
      const fresh = await token('orders:read');
      kids.add(decodeProtectedHeader(fresh).kid as string);
      for (const { name, url } of apis) {
        const res = await call(url, fresh);
        if (res.status !== 200) refused.push(`${name}: ${res.status} ${res.body}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.deepEqual(refused, []);
    assert.ok(kids.size === 2 && kids.has(before as string), 'tokens of both keys were checked');
  });
});
