import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../src/config/index.ts';
import { createLogger } from '../../src/logger.ts';
import { createLifetime } from '../../src/wiring/lifetime.ts';
import { openTelemetry } from '../../src/wiring/telemetry.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: { key: string; value: { stringValue?: string; intValue?: string } }[];
  status: { code: number };
}
interface OtlpBody {
  resourceSpans: {
    resource: { attributes: { key: string; value: { stringValue?: string } }[] };
    scopeSpans: { spans: OtlpSpan[] }[];
  }[];
}

const attr = (span: OtlpSpan, key: string) => {
  const v = span.attributes.find((a) => a.key === key)?.value;
  return v?.stringValue ?? v?.intValue;
};

/** OpenTelemetry traces sent to a tiny OTLP/HTTP receiver in this process. */
describe('OpenTelemetry traces', () => {
  const bodies: OtlpBody[] = [];
  const paths: string[] = [];
  const collector = createServer((req, res) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (text += c));
    req.on('end', () => {
      paths.push(`${req.method} ${req.url} ${req.headers['content-type']}`);
      bodies.push(JSON.parse(text) as OtlpBody);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  let server: TestServer;
  const spans = () => bodies.flatMap((b) => b.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans)));

  before(async () => {
    collector.listen(0, '127.0.0.1');
    await once(collector, 'listening');
    const endpoint = `http://127.0.0.1:${(collector.address() as AddressInfo).port}/`;
    server = await startTestServer({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_SERVICE_NAME: 'idp-test' } });
  });
  after(async () => {
    await server?.close();
    collector.close();
  });

  test('a request is a server span with its route and status, a child of the caller’s traceparent; its database work are child spans', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const token = await server.adminToken();
    const res = await fetch(`${server.url}/admin/clients?limit=1&after=secret-in-query`, {
      headers: { authorization: `Bearer ${token}`, traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
    });
    assert.equal(res.status, 200);
    const deadline = Date.now() + 10_000;
    let request: OtlpSpan | undefined;
    while (!request && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      request = spans().find((s) => s.traceId === traceId && s.kind === 2);
    }
    assert.ok(request, 'the request span arrived');
    assert.equal(request.name, 'GET /admin/clients');
    assert.equal(request.parentSpanId, '00f067aa0ba902b7');
    assert.equal(attr(request, 'http.route'), '/admin/clients');
    assert.equal(attr(request, 'http.response.status_code'), '200');
    assert.equal(request.status.code, 0);
    assert.ok(BigInt(request.endTimeUnixNano) > BigInt(request.startTimeUnixNano));
    assert.ok(!JSON.stringify(bodies).includes('secret-in-query'), 'no query string in any span');
    assert.ok(!JSON.stringify(bodies).includes(token), 'no token in any span');
    const db = spans().filter((s) => s.parentSpanId === request?.spanId && s.kind === 3);
    assert.ok(db.length > 0, 'the database work of the request is in its trace');
    assert.ok(db.every((s) => s.traceId === traceId && attr(s, 'db.system.name') === 'postgresql'));
    assert.ok(
      db.some((s) => s.name === 'Client.findMany'),
      db.map((s) => s.name).join(', '),
    );
    const service = bodies[0]?.resourceSpans[0]?.resource.attributes.find((a) => a.key === 'service.name');
    assert.equal(service?.value.stringValue, 'idp-test');
    assert.ok(
      paths.every((p) => p === 'POST /v1/traces application/json'),
      paths.join(', '),
    );

    // a token request (the hot path) is traced under the provider's route name, a new trace without a traceparent
    const before = spans().length;
    await server.adminToken();
    const until = Date.now() + 10_000;
    let tokenSpan: OtlpSpan | undefined;
    while (!tokenSpan && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 200));
      tokenSpan = spans()
        .slice(before)
        .find((s) => s.kind === 2 && s.name === 'POST token');
    }
    assert.ok(
      tokenSpan,
      spans()
        .map((s) => s.name)
        .join(', '),
    );
    assert.equal(tokenSpan.parentSpanId, undefined);
    // a malformed traceparent starts a new trace rather than failing the request
    const bad = await fetch(`${server.url}/healthz`, { headers: { traceparent: '00-zz-00-01' } });
    assert.equal(bad.status, 200);
  });

  test('off by default: without the variable nothing is built', async () => {
    const lifetime = createLifetime();
    const config = loadConfig({ NODE_ENV: 'test', SECRETS_KEY: 'x'.repeat(40) });
    assert.equal(config.telemetry.tracesUrl, undefined);
    assert.equal(await openTelemetry(config, createLogger('silent'), lifetime), undefined);
    await lifetime.close();
    assert.throws(
      () => loadConfig({ NODE_ENV: 'test', OTEL_EXPORTER_OTLP_ENDPOINT: 'ftp://collector' }),
      /OTEL_EXPORTER_OTLP_ENDPOINT/,
    );
  });
});
