import type { Context, Middleware } from 'koa';
import { AppError } from '../../errors.ts';
import type { AccessTokenClaims } from '../../services/access-tokens.ts';
import type { SecurityEventService } from '../../services/security-events.ts';

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const SINGULAR: Record<string, string> = {
  clients: 'client',
  resources: 'resource',
  users: 'user',
  roles: 'role',
  keys: 'key',
  // an initial access token lets whoever holds it register a client (RFC 7591 §3)
  'initial-access-tokens': 'initial_access_token',
};
const ACTIONS: Record<string, string> = { secret: 'secret_rotated', unlock: 'unlocked', rotate: 'rotated' };

/**
 * The event type of a successful admin change, from the route pattern and method:
 * `POST /admin/clients` -> `client.created`, `PATCH /admin/users/:id` -> `user.updated`,
 * `DELETE /admin/roles/:id` -> `role.deleted`, `POST /admin/clients/:id/secret` -> `client.secret_rotated`.
 */
export function changeType(method: string, route: string): string | undefined {
  const parts = route
    .replace(/^\/admin\/?/, '')
    .split('/')
    .filter(Boolean);
  const [collection, second, third] = parts;
  const noun = collection === undefined ? undefined : SINGULAR[collection];
  if (!noun) return undefined;
  const isParam = (p: string | undefined) => p?.startsWith(':') === true;
  if (parts.length === 1) return method === 'POST' ? `${noun}.created` : `${noun}.changed`;
  if (parts.length === 2 && isParam(second)) {
    if (method === 'DELETE') return `${noun}.deleted`;
    return `${noun}.updated`;
  }
  const action = isParam(second) ? third : second;
  return action === undefined ? `${noun}.changed` : `${noun}.${ACTIONS[action] ?? action}`;
}

/**
 * Records every change made through the admin API, with the admin who made it (the token's
 * `sub` and `client_id`), as one middleware for all routes, so a route added later is recorded
 * too. A change refused for want of power (403: a missing scope, or the delegation rule of
 * docs/decisions/0010) is recorded as well, with outcome `failure` and the error code: an
 * attempt to raise one's power is what the log is for. The details name the fields
 * sent, never their values (a body may hold a password or a secret).
 */
export function auditAdminChanges(events: SecurityEventService): Middleware {
  const record = (ctx: Context, failure?: AppError) => {
    if (!MUTATING.has(ctx.method)) return;
    const route = (ctx as Context & { _matchedRoute?: unknown })._matchedRoute;
    const type = typeof route === 'string' ? changeType(ctx.method, route) : undefined;
    if (!type) return;
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
        route,
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
