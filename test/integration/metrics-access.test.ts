import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, describe, test } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/index.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const TOKEN = 'metrics-token-0123456789abcdef0123456789';
const production = { NODE_ENV: 'production', HOST: '127.0.0.1', ISSUER: 'http://localhost:3999' };

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const { port } = probe.address() as { port: number };
  await new Promise((r) => probe.close(r));
  return port;
}

describe('who may read /metrics', () => {
  const servers: TestServer[] = [];
  after(async () => {
    for (const server of servers) await server.close();
  });
  const start = async (env: Record<string, string>) => {
    const server = await startTestServer({ env });
    servers.push(server);
    return server;
  };

  test('regression: in production the main port does not list client ids on /metrics without a token', async () => {
    const server = await start(production);
    const res = await fetch(`${server.url}/metrics`);
    const text = await res.text();
    assert.equal(res.status, 404);
    assert.ok(!text.includes('idp_'), text.slice(0, 200));
  });

  test('regression: METRICS_TOKEN: /metrics on the main port needs that bearer token', async () => {
    const server = await start({ ...production, METRICS_TOKEN: TOKEN });
    for (const authorization of [
      undefined,
      'Bearer wrong',
      `Bearer ${TOKEN}x`,
      `Basic ${TOKEN}`,
      `Bearer ${TOKEN.slice(1)}`,
    ]) {
      const res = await fetch(`${server.url}/metrics`, { headers: authorization ? { authorization } : {} });
      assert.equal(res.status, 401, String(authorization));
      assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer/);
      assert.ok(!(await res.text()).includes('idp_'));
    }
    const ok = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(ok.status, 200);
    assert.match(await ok.text(), /idp_http_request_duration_seconds/);
  });

  test('regression: METRICS_PORT in production: metrics there, not on the main port', async () => {
    const port = await freePort();
    const server = await start({ ...production, METRICS_PORT: String(port) });
    assert.equal((await fetch(`${server.url}/metrics`)).status, 404);
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    assert.equal(res.status, 200);
    await res.text();
  });

  test('development keeps /metrics open on the main port', async () => {
    const server = await start({});
    const res = await fetch(`${server.url}/metrics`);
    assert.equal(res.status, 200);
    await res.text();
  });

  test('METRICS_TOKEN must be long enough to be a secret', () => {
    assert.throws(
      () => loadConfig({ METRICS_TOKEN: 'short' }),
      (err: unknown) => err instanceof ConfigError && err.message.startsWith('METRICS_TOKEN: must be 32 to 256'),
    );
    assert.equal(loadConfig({ METRICS_TOKEN: TOKEN }).limits.metricsToken, TOKEN);
  });
});
