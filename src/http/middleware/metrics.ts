import { createHash, timingSafeEqual } from 'node:crypto';
import type { Middleware } from 'koa';
import { AppError } from '../../errors.ts';
import { children, type Metrics, type RouteLabels } from '../../services/metrics.ts';
import { writeError } from './errors.ts';

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/**
 * Observes every request's duration by method, route and status. The route is the pattern
 * (`/admin/clients/:id`) or oidc-provider's route name (`token`), never the raw path: a raw path
 * would let any caller create unbounded label values (and leak ids into the metrics).
 */
export function requestMetrics(metrics: Metrics, routeLabels: RouteLabels): Middleware {
  const durations = children((key) => {
    const [method = '', route = '', status = ''] = key.split('\n');
    return metrics.httpDuration.labels({ method, route, status });
  });
  return async (ctx, next) => {
    const start = performance.now();
    try {
      await next();
    } finally {
      // observed when the handlers are done (the body may still be streaming): one closure
      // less per request than waiting for the socket's close event
      const matched = (ctx as { _matchedRoute?: string | RegExp })._matchedRoute;
      // oidc-provider's route name first: its own router also sets _matchedRoute (`/token`)
      const route =
        routeLabels.get(ctx.req) ??
        (typeof matched === 'string' ? matched : undefined) ??
        (ctx.path.startsWith('/static/') ? '/static' : 'unmatched');
      const method = METHODS.has(ctx.method) ? ctx.method : 'OTHER';
      durations(`${method}\n${route}\n${ctx.status}`).observe((performance.now() - start) / 1000);
    }
  };
}

const digest = (value: string) => createHash('sha256').update(value).digest();

/**
 * GET /metrics: the Prometheus text exposition of this app's registry. With `token`, only for
 * `Authorization: Bearer <token>` (RFC 6750), compared in constant time: the metrics name
 * clients and show traffic, which is not for everyone who can reach the server.
 */
export function metricsEndpoint(metrics: Metrics, options: { token?: string | undefined } = {}): Middleware {
  const expected = options.token === undefined ? undefined : digest(options.token);
  return async (ctx, next) => {
    if (ctx.path !== '/metrics') return next();
    if (expected !== undefined) {
      const match = /^Bearer ([\x21-\x7e]+)$/i.exec(ctx.get('authorization'));
      // hashing first makes both sides one length, so the comparison time says nothing about the token
      if (!match?.[1] || !timingSafeEqual(digest(match[1]), expected)) {
        ctx.set('WWW-Authenticate', 'Bearer realm="metrics"');
        return writeError(ctx, new AppError('invalid_token', 401, 'the metrics need a bearer token'));
      }
    }
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
      ctx.set('Allow', 'GET, HEAD');
      return writeError(ctx, new AppError('method_not_allowed', 405, 'use GET or HEAD'));
    }
    ctx.set('Cache-Control', 'no-store');
    ctx.type = metrics.registry.contentType;
    ctx.body = await metrics.registry.metrics();
  };
}
