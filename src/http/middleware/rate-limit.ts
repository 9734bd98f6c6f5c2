import type { Context, Middleware } from 'koa';
import { AppError } from '../../errors.ts';
import type { LimitName, Protection } from '../../services/protection.ts';
import type { Verdict } from '../../services/rate-limits.ts';

/**
 * RFC 6585 §4: 429 with Retry-After (RFC 9110 §10.2.3, in seconds). Thrown into the error
 * handler, whose body is OAuth-style: `{ "error": "too_many_requests", "error_description": ... }`.
 */
function tooManyRequests(ctx: Context, verdict: Verdict): AppError {
  ctx.set('Retry-After', String(verdict.retryAfter));
  return new AppError('too_many_requests', 429, `too many requests; retry after ${verdict.retryAfter} seconds`);
}

/** Counts each request under `limit`, keyed by the caller's address; over the limit, 429. */
export function rateLimitByAddress(protection: Protection, limit: LimitName): Middleware {
  const limiter = protection.limits[limit];
  return async (ctx, next) => {
    const verdict = await limiter.hit(ctx.ip);
    if (!verdict.allowed) {
      protection.refused(limit, verdict, { ip: ctx.ip, userAgent: ctx.get('user-agent') || undefined }, ctx.ip);
      throw tooManyRequests(ctx, verdict);
    }
    await next();
  };
}
