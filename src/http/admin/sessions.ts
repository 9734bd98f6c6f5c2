import type Router from '@koa/router';
import { z } from 'zod';
import { notFound } from '../../errors.ts';
import type { AdminDelegation } from '../../services/admin-delegation.ts';
import { SessionView } from '../../services/schemas/responses.ts';
import type { SessionService } from '../../services/sessions.ts';
import { callerPower, requireScope } from '../middleware/admin-auth.ts';
import { guard, guarded } from '../middleware/guard.ts';
import { responds } from './openapi.ts';

const UserParams = z.object({ id: z.string().min(1).max(256) });
const SessionParams = z.object({ id: z.string().min(1).max(256), sessionId: z.string().min(1).max(256) });

/**
 * A user's browser sessions: `GET /admin/users/{id}/sessions`, and ending them, all
 * (`DELETE .../sessions`) or one (`DELETE .../sessions/{sessionId}`). Ending a session signs its
 * browser out and ends the refresh tokens issued in it (`offline_access` included).
 */
export function sessionRoutes(
  router: Router,
  sessions: SessionService,
  users: { get(id: string): Promise<unknown> },
  delegation: Pick<AdminDelegation, 'checkUserTarget'>,
): void {
  router.get(
    '/users/:id/sessions',
    requireScope('users:read'),
    responds('SessionList', z.array(SessionView)),
    guard({ params: UserParams }),
    async (ctx) => {
      const { params } = guarded(ctx, { params: UserParams });
      if (!(await users.get(params.id))) throw notFound('user');
      ctx.body = (await sessions.list(params.id)).map((s) => ({
        id: s.id,
        createdAt: s.createdAt.toISOString(),
        lastSeenAt: s.lastSeenAt.toISOString(),
        ip: s.ip,
        userAgent: s.userAgent,
      }));
    },
  );

  router.delete(
    '/users/:id/sessions',
    requireScope('users:write', { event: 'session.revoked' }),
    guard({ params: UserParams }),
    async (ctx) => {
      const { params } = guarded(ctx, { params: UserParams });
      if (!(await users.get(params.id))) throw notFound('user');
      // signing out a user with more admin power than the caller is an attack on that admin
      await delegation.checkUserTarget(callerPower(ctx), params.id);
      await sessions.endAll(params.id, 'admin', { by: 'admin' });
      ctx.status = 204;
    },
  );

  router.delete(
    '/users/:id/sessions/:sessionId',
    requireScope('users:write', { event: 'session.revoked' }),
    guard({ params: SessionParams }),
    async (ctx) => {
      const { params } = guarded(ctx, { params: SessionParams });
      await delegation.checkUserTarget(callerPower(ctx), params.id);
      if (!(await sessions.end(params.id, params.sessionId, { by: 'admin' }))) throw notFound('session');
      ctx.status = 204;
    },
  );
}
