import { randomUUID } from 'node:crypto';
import type { Context, Next } from 'koa';
import type { Logger } from '../../logger.ts';

const VALID_ID = /^[\w.-]{1,128}$/;

/** A request id (the caller's X-Request-Id when well-formed), a child logger, and one log line per request. */
export function requestContext(log: Logger) {
  return async function requestContextMiddleware(ctx: Context, next: Next): Promise<void> {
    const incoming = ctx.get('x-request-id');
    const id = VALID_ID.test(incoming) ? incoming : randomUUID();
    ctx.state.requestId = id;
    ctx.state.log = log.child({ reqId: id });
    ctx.set('X-Request-Id', id);
    const start = performance.now();
    try {
      await next();
    } finally {
      if (log.isLevelEnabled('info')) {
        // the path only: query strings may carry codes or tokens
        log.info(
          {
            reqId: id,
            method: ctx.method,
            path: ctx.path,
            status: ctx.respond === false ? ctx.res.statusCode : ctx.status,
            ms: Math.round(performance.now() - start),
          },
          'request',
        );
      }
    }
  };
}
