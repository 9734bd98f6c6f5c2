import type { Context, Next } from 'koa';
import { AppError, unavailable } from '../../errors.ts';
import { isDatabaseUnavailable, RETRY_AFTER_SECONDS } from '../../services/availability.ts';
import { requestLog } from './request-context.ts';

/** Renders an error as a page; the writer sets the status after it. */
export type ErrorPage = (ctx: Context, err: AppError) => void;

/** First path segments whose requests come from browsers: an error there may be a page. */
const PAGE_SEGMENTS = new Set([
  'interaction',
  'account',
  'auth',
  'session',
  'device',
  'console',
  'password',
  'signup',
  'email',
]);

/** A browser asking for a page (a page's scripts post JSON: they are answered in JSON, as the routes they call would). */
function wantsPage(ctx: Context): boolean {
  const segment = ctx.path.split('/')[1] ?? '';
  return PAGE_SEGMENTS.has(segment) && !ctx.is('json') && ctx.accepts('html', 'json') === 'html';
}

/**
 * The one function that turns an error into the response, wherever it is met: the admin API's
 * handler and every edge middleware that refuses a request before a route runs. JSON in
 * RFC 6749 §5.2's shape, `{ error, error_description, details? }`, which the admin API's
 * errors share; with `page`, a browser asking for a page gets that page instead. A 5xx never
 * says what went wrong inside (it is logged). A 401 carries a Bearer challenge (RFC 6750 §3)
 * unless the caller set its own. The database out of reach is a 503 with `Retry-After`: the
 * request may succeed in a few seconds (an outage, a failover), and nothing is wrong with it.
 */
export function writeError(ctx: Context, err: unknown, page?: ErrorPage): void {
  const appError = toAppError(err);
  if (appError.status === 503) requestLog(ctx)?.warn({ err }, 'request refused: the database is unavailable');
  else if (appError.status >= 500) requestLog(ctx)?.error({ err }, 'request failed');
  ctx.set('Cache-Control', 'no-store');
  if (appError.status === 503) ctx.set('Retry-After', String(RETRY_AFTER_SECONDS));
  if (page && wantsPage(ctx)) {
    page(ctx, appError);
    ctx.status = appError.status;
    return;
  }
  if (appError.status === 401 && !ctx.response.get('WWW-Authenticate')) {
    ctx.set('WWW-Authenticate', bearerChallenge(appError));
  }
  ctx.status = appError.status;
  ctx.type = 'application/json';
  ctx.body = {
    error: appError.code,
    error_description: appError.expose ? appError.message : 'internal server error',
    ...(appError.expose && appError.details ? { details: appError.details } : {}),
  };
}

/** Our own routes' errors (the admin API) become responses here, through `writeError`. */
export async function errorHandler(ctx: Context, next: Next): Promise<void> {
  try {
    await next();
  } catch (err) {
    writeError(ctx, err);
  }
}

function bearerChallenge(err: AppError): string {
  return err.code === 'invalid_token'
    ? `Bearer error="invalid_token", error_description="${err.message.replace(/["\\]/g, '')}"`
    : 'Bearer';
}

function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  if (isDatabaseUnavailable(err)) return unavailable();
  // errors of Koa itself (ctx.throw) and of oidc-provider's error classes carry a status
  const e = err as { status?: unknown; expose?: unknown; message?: unknown; error?: unknown };
  if (typeof e?.status === 'number' && e.status >= 400 && e.status < 500) {
    const code = e.status === 404 ? 'not_found' : e.status === 405 ? 'method_not_allowed' : 'invalid_request';
    return new AppError(code, e.status, typeof e.message === 'string' ? e.message : 'bad request');
  }
  return new AppError('server_error', 500, 'internal server error');
}
