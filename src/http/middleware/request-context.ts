import { randomUUID } from 'node:crypto';
import type { Context, Next } from 'koa';
import type { Logger } from '../../logger.ts';

const VALID_ID = /^[\w.-]{1,128}$/;

/** A request id (the caller's X-Request-Id when well-formed), a child logger, and one log line per request. */
export function requestContext(log: Logger) {
  // unique per process run without a random draw per request: request ids need not be secret
  const prefix = randomUUID().slice(0, 8);
  let counter = 0;
  return async function requestContextMiddleware(ctx: Context, next: Next): Promise<void> {
    const incoming = ctx.get('x-request-id');
    const id = VALID_ID.test(incoming) ? incoming : `${prefix}-${(++counter).toString(36)}`;
    ctx.state.requestId = id;
    ctx.state.logger = log;
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
            status: ctx.status,
            ms: Math.round(performance.now() - start),
          },
          'request',
        );
      }
    }
  };
}

/** The request's logger, carrying its id; made on first use (most requests log nothing but their line). */
export function requestLog(ctx: Context): Logger | undefined {
  const state = ctx.state as { logger?: Logger; requestId?: string; log?: Logger };
  if (!state.log && state.logger) state.log = state.logger.child({ reqId: state.requestId });
  return state.log;
}
