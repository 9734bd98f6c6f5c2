import type { Context, Middleware } from 'koa';
import { AppError } from '../../errors.ts';
import type { AccessTokenClaims } from '../../services/access-tokens.ts';
import type { SecurityEventService } from '../../services/security-events.ts';
import { declaredEvent } from '../middleware/admin-auth.ts';

/**
 * Records every change made through the admin API, with the admin who made it (the token's
 * `sub` and `client_id`), under the event type its route declares with its scope
 * (`requireScope('clients:write', { event: 'client.updated' })`). A change refused for want of
 * power (403: a missing scope, or the delegation rules of services/admin-delegation.ts) is
 * recorded as well, with outcome `failure` and the error code: an attempt to raise one's power
 * is what the log is for. The details name the fields sent, never their values (a body may
 * hold a password or a secret).
 */
export function auditAdminChanges(events: SecurityEventService): Middleware {
  const record = (ctx: Context, failure?: AppError) => {
    const type = declaredEvent(ctx);
    if (!type) return;
    const route = (ctx as Context & { _matchedRoute?: unknown })._matchedRoute;
    const token = ctx.state.token as AccessTokenClaims | undefined;
    const params = (ctx as Context & { params?: Record<string, string> }).params;
    const body = failure ? undefined : (ctx.body as { id?: unknown; client_id?: unknown } | undefined);
    const created =
      typeof body?.client_id === 'string' ? body.client_id : typeof body?.id === 'string' ? body.id : undefined;
    // when the route's scope check refused, the body was never read: no fields then
    const sent = (ctx.state.guard as { body?: unknown } | undefined)?.body;
    events.record({
      type,
      ...(failure ? { outcome: 'failure' as const } : {}),
      actor: token?.sub,
      clientId: token?.client_id,
      subject: params?.id ?? created,
      ip: ctx.ip,
      userAgent: ctx.get('user-agent') || undefined,
      details: {
        method: ctx.method,
        ...(typeof route === 'string' ? { route } : {}),
        ...(params?.passkeyId ? { authenticator_id: params.passkeyId } : {}),
        ...(params?.secretId ? { secret_id: params.secretId } : {}),
        ...(failure ? { error: failure.code } : {}),
        ...(sent && typeof sent === 'object' && !Array.isArray(sent) ? { fields: Object.keys(sent).slice(0, 50) } : {}),
      },
    });
  };
  return async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      if (err instanceof AppError && err.status === 403) record(ctx, err);
      throw err;
    }
    if (ctx.status < 400) record(ctx);
  };
}
