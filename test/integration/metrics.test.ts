import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { postgresServerUrl } from '../helpers/database.ts';
import { metricValue } from '../helpers/form-signin.ts';
import { registerApi, registerService } from '../helpers/oidc.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const API = 'https://metrics.example';
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const { port } = probe.address() as { port: number };
  await new Promise((r) => probe.close(r));
  return port;
}

describe('metrics', () => {
  let server: TestServer;
  let second: TestServer;
  let service: { client_id: string; client_secret: string };

  before(async () => {
    server = await startTestServer({
      env: { TRUST_PROXY: 'true', SURGE_FAILURES_PER_MINUTE: '3', SURGE_TOKENS_PER_MINUTE: '4' },
    });
    // a second app in the same process: its own registry, no clash
    second = await startTestServer();
    await registerApi(server, API, ['m:read']);
    service = await registerService(server, { [API]: ['m:read'] });
  });
  after(async () => {
    await second?.close();
    await server?.close();
  });

  const token = (secret: string, ip = '10.20.0.1') =>
    fetch(`${server.url}/token`, {
      method: 'POST',
      headers: {
        authorization: basic(service.client_id, secret),
        'content-type': 'application/x-www-form-urlencoded',
        'x-forwarded-for': ip,
      },
      body: new URLSearchParams({ grant_type: 'client_credentials', resource: API }),
    });

  test('serves the Prometheus text format with the contract metrics', async () => {
    const res = await fetch(`${server.url}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
    assert.equal(res.headers.get('strict-transport-security'), null, 'no HSTS over an http issuer');
    const text = await res.text();
    for (const name of [
      'idp_tokens_issued_total',
      'idp_signins_total',
      'idp_rate_limited_total',
      'idp_http_request_duration_seconds',
      'idp_nodejs_eventloop_lag_seconds',
      'idp_security_event_queue',
    ]) {
      assert.match(text, new RegExp(`# TYPE ${name} `), name);
    }
    if (postgresServerUrl) assert.match(text, /idp_db_pool_connections\{state="total"\} \d+/);
    assert.equal((await fetch(`${second.url}/metrics`)).status, 200);
  });

  test('tokens, requests by route pattern and status, and latency move', async () => {
    const before = await metricValue(server, 'idp_tokens_issued_total', {
      grant_type: 'client_credentials',
      client_id: service.client_id,
    });
    assert.equal((await token(service.client_secret)).status, 200);
    assert.equal((await token(service.client_secret)).status, 200);
    const afterCount = await metricValue(server, 'idp_tokens_issued_total', {
      grant_type: 'client_credentials',
      client_id: service.client_id,
    });
    assert.equal(afterCount - before, 2);

    const requests = await metricValue(server, 'idp_http_request_duration_seconds_count', {
      method: 'POST',
      route: 'token',
      status: '200',
    });
    assert.ok(requests >= 2);

    // a path with an id is labelled by its pattern: ids never become label values
    await server.admin('GET', `/clients/${service.client_id}`);
    await server.admin('GET', '/clients/some-unknown-id-123');
    const text = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(text, /route="\/admin\/clients\/:id",status="200"/);
    assert.match(text, /route="\/admin\/clients\/:id",status="404"/);
    assert.ok(!text.includes('some-unknown-id-123'), 'a raw path leaked into the labels');
    await fetch(`${server.url}/no/such/path/abc-999`);
    assert.ok(!(await (await fetch(`${server.url}/metrics`)).text()).includes('abc-999'));
  });

  test('a surge of failures from one address is detected', async () => {
    const before = await metricValue(server, 'idp_surges_detected_total', { kind: 'failures', dimension: 'ip' });
    for (let i = 0; i < 3; i++) assert.equal((await token('wrong-secret', '10.21.0.1')).status, 401);
    const after = await metricValue(server, 'idp_surges_detected_total', { kind: 'failures', dimension: 'ip' });
    assert.equal(after - before, 1, 'reported once');
    assert.equal((await token('wrong-secret', '10.21.0.1')).status, 401);
    assert.equal(await metricValue(server, 'idp_surges_detected_total', { kind: 'failures', dimension: 'ip' }), after);
  });

  test('a surge of token requests for one client is detected', async () => {
    for (let i = 0; i < 4; i++) await token(service.client_secret, '10.22.0.1');
    assert.ok((await metricValue(server, 'idp_surges_detected_total', { kind: 'tokens', dimension: 'client' })) >= 1);
  });

  test('METRICS_PORT serves the metrics on their own port, not the public one', async () => {
    const port = await freePort();
    const separate = await startTestServer({ env: { METRICS_PORT: String(port) } });
    try {
      const own = await fetch(`http://127.0.0.1:${port}/metrics`);
      assert.equal(own.status, 200);
      assert.match(await own.text(), /idp_http_request_duration_seconds/);
      assert.notEqual((await fetch(`${separate.url}/metrics`)).status, 200);
    } finally {
      await separate.close();
    }
    // closed with the app
    await assert.rejects(fetch(`http://127.0.0.1:${port}/metrics`));
  });
});
