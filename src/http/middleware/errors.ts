import type { Context, Next } from 'koa';
import { AppError } from '../../errors.ts';
import { requestLog } from './request-context.ts';

/**
 * The one place our own routes' errors become responses:
 * `{ error, error_description, details? }`, and a 5xx never says what went wrong inside.
 */
export async function errorHandler(ctx: Context, next: Next): Promise<void> {
  try {
    await next();
  } catch (err) {
    const appError = toAppError(err);
    if (appError.status >= 500) requestLog(ctx)?.error({ err }, 'request failed');
    ctx.status = appError.status;
    ctx.type = 'application/json';
    ctx.set('Cache-Control', 'no-store');
    if (appError.status === 401) ctx.set('WWW-Authenticate', bearerChallenge(appError));
    ctx.body = {
      error: appError.code,
      error_description: appError.expose ? appError.message : 'internal server error',
      ...(appError.expose && appError.details ? { details: appError.details } : {}),
    };
  }
}

function bearerChallenge(err: AppError): string {
  return err.code === 'invalid_token'
    ? `Bearer error="invalid_token", error_description="${err.message.replace(/["\\]/g, '')}"`
    : 'Bearer';
}

function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  // errors of Koa itself (ctx.throw) and of oidc-provider's error classes carry a status
  const e = err as { status?: unknown; expose?: unknown; message?: unknown; error?: unknown };
  if (typeof e?.status === 'number' && e.status >= 400 && e.status < 500) {
    const code = e.status === 404 ? 'not_found' : e.status === 405 ? 'method_not_allowed' : 'invalid_request';
    return new AppError(code, e.status, typeof e.message === 'string' ? e.message : 'bad request');
  }
  return new AppError('server_error', 500, 'internal server error');
}
