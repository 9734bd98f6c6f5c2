import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { after, before, describe, test } from 'node:test';
import Koa from 'koa';
import { AppError } from '../../../src/errors.ts';
import { canonicalPaths, templateOf } from '../../../src/http/middleware/canonical-path.ts';
import { cleanInput } from '../../../src/http/middleware/clean-input.ts';
import { errorHandler, writeError } from '../../../src/http/middleware/errors.ts';
import { inputLimits } from '../../../src/http/middleware/hardening.ts';
import { metricsEndpoint } from '../../../src/http/middleware/metrics.ts';
import { serveStatic } from '../../../src/http/middleware/security-headers.ts';
import { createMetrics } from '../../../src/services/metrics.ts';

const SECRET = 'password=hunter2 at db.internal:5432';

describe('one error writer for every error response', () => {
  let server: Server;
  let base = '';
  before(async () => {
    const app = new Koa();
    app.use(inputLimits({ https: false }));
    app.use(
      cleanInput({ page: (ctx, message) => Object.assign(ctx, { type: 'text/html', body: `<p>${message}</p>` }) }),
    );
    app.use(canonicalPaths(() => ['/admin/things', '/boom'].map(templateOf)));
    app.use(metricsEndpoint(createMetrics(), { token: 'metrics-token' }));
    app.use(serveStatic({ root: mkdtempSync(`${tmpdir()}/static-`) }));
    app.use(errorHandler);
    app.use((ctx) => {
      if (ctx.path === '/boom') throw new Error(SECRET);
      if (ctx.path === '/page')
        return writeError(ctx, new AppError('forbidden', 403, 'not you'), (c, e) => {
          c.type = 'text/html';
          c.body = `<h1>${e.code}</h1>`;
        });
      throw new AppError('conflict', 409, 'taken', [{ field: 'name', message: 'taken' }]);
    });
    server = createServer(app.callback());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const call = async (path: string, init: RequestInit = {}) => {
    const res = await fetch(`${base}${path}`, init);
    const text = await res.text();
    return { res, text, body: res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : undefined };
  };

  test('regression: every edge refusal is JSON of one shape, never cached', async () => {
    const cases: [string, RequestInit, number, string][] = [
      [`/x?${'a'.repeat(9000)}`, {}, 414, 'invalid_request'],
      [
        '/x',
        { method: 'POST', headers: { 'content-length': '70000' }, body: 'x'.repeat(70000) },
        413,
        'payload_too_large',
      ],
      ['/x?q=%00', {}, 400, 'invalid_request'],
      ['/Admin/things', {}, 404, 'not_found'],
      ['/metrics', {}, 401, 'invalid_token'],
      ['/metrics', { method: 'POST', headers: { authorization: 'Bearer metrics-token' } }, 405, 'method_not_allowed'],
      ['/static/missing.css', {}, 404, 'not_found'],
      ['/static/app.css', { method: 'DELETE' }, 405, 'method_not_allowed'],
      ['/admin/things', {}, 409, 'conflict'],
    ];
    for (const [path, init, status, code] of cases) {
      const { res, body } = await call(path, init);
      const label = `${init.method ?? 'GET'} ${path.slice(0, 40)}`;
      assert.equal(res.status, status, label);
      assert.equal(body?.error, code, label);
      assert.equal(typeof body?.error_description, 'string', label);
      assert.deepEqual(
        Object.keys(body).filter((k) => !['error', 'error_description', 'details'].includes(k)),
        [],
        label,
      );
      assert.equal(res.headers.get('cache-control'), 'no-store', label);
    }
    assert.equal((await call('/metrics')).res.headers.get('www-authenticate'), 'Bearer realm="metrics"');
    assert.deepEqual((await call('/admin/things')).body.details, [{ field: 'name', message: 'taken' }]);
  });

  test('a 5xx never says what went wrong inside', async () => {
    const { res, text } = await call('/boom');
    assert.equal(res.status, 500);
    assert.deepEqual(JSON.parse(text), { error: 'server_error', error_description: 'internal server error' });
    assert.equal(text.includes('hunter2'), false);
  });

  test('a browser on a page path gets the page, with the error status', async () => {
    const bad = await call('/interaction/x?q=%00', { headers: { accept: 'text/html' } });
    assert.equal(bad.res.status, 400);
    assert.match(bad.text, /^<p>.*NUL/);
    const page = await call('/page', { headers: { accept: 'text/html' } });
    // not a page path: JSON
    assert.equal(page.res.status, 403);
    assert.equal(page.body?.error, 'forbidden');
  });
});
