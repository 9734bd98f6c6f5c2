import type { Middleware } from 'koa';
import type { RouteLabels } from '../../services/metrics.ts';
import { parseTraceparent, type Tracer } from '../../services/tracing.ts';

/**
 * A server span per request (OpenTelemetry HTTP semantic conventions): method, route pattern
 * (never the raw path, which holds ids, nor the query, which may hold codes and tokens) and
 * status; a 5xx marks it failed. A `traceparent` header (W3C Trace Context) makes it a child of
 * the caller's span. The span is current while the request is served, so the database spans
 * of the request are its children.
 */
export function traceRequests(tracer: Tracer, routeLabels: RouteLabels): Middleware {
  return async (ctx, next) => {
    const span = tracer.start(ctx.method, { kind: 'server', parent: parseTraceparent(ctx.get('traceparent')) });
    span.setAttribute('http.request.method', ctx.method);
    try {
      await tracer.within(span, next);
    } finally {
      const matched = (ctx as { _matchedRoute?: string | RegExp })._matchedRoute;
      const route = routeLabels.get(ctx.req) ?? (typeof matched === 'string' ? matched : undefined);
      if (route !== undefined) span.setAttribute('http.route', route);
      span.setAttribute('http.response.status_code', ctx.status);
      if (ctx.status >= 500) span.fail();
      // method and route; the method alone when no route matched (a raw path is too varied)
      if (route !== undefined) span.rename(`${ctx.method} ${route}`);
      span.end();
    }
  };
}
