import Router from '@koa/router';
import { AppError } from '../../errors.ts';
import type { AccessTokenService } from '../../services/access-tokens.ts';
import type { ClientService } from '../../services/clients.ts';
import type { ResourceService } from '../../services/resources.ts';
import { adminAuth, requireScope } from '../middleware/admin-auth.ts';
import { clientRoutes } from './clients.ts';
import { resourceRoutes } from './resources.ts';

export interface AdminDeps {
  audience: string;
  keys: {
    list(): Promise<readonly { kid: string; alg: string; current: boolean; createdAt: Date; expiresAt: Date | null }[]>;
    /** rotates and tells every instance */
    rotate(): Promise<string[]>;
  };
  accessTokens: AccessTokenService;
  clients: ClientService;
  resources: ResourceService;
}

/** The admin API under /admin: JSON in and out, every route behind an admin access token. */
export function createAdminRouter(deps: AdminDeps): Router {
  const router = new Router({ prefix: '/admin' });
  router.use(async (ctx, next) => {
    ctx.set('Cache-Control', 'no-store');
    await next();
  });
  router.use(adminAuth(deps.accessTokens, deps.audience));
  clientRoutes(router, deps.clients);
  resourceRoutes(router, deps.resources);
  router.get('/keys', requireScope('keys:read'), async (ctx) => {
    ctx.body = {
      data: (await deps.keys.list()).map((k) => ({
        kid: k.kid,
        alg: k.alg,
        current: k.current,
        created_at: k.createdAt.toISOString(),
        expires_at: k.expiresAt?.toISOString() ?? null,
      })),
    };
  });
  router.post('/keys/rotate', requireScope('keys:write'), async (ctx) => {
    ctx.body = { rotated: await deps.keys.rotate() };
  });
  // anything else under /admin (after authentication, so paths are not probed anonymously):
  // 405 with Allow when the path exists with other methods, else 404
  router.all('not-found', '/{*rest}', (ctx) => {
    const allowed = new Set(
      (ctx.matched ?? []).filter((layer) => layer.name !== 'not-found').flatMap((layer) => layer.methods),
    );
    if (allowed.size > 0) {
      ctx.set('Allow', [...allowed].join(', '));
      throw new AppError('method_not_allowed', 405, `use ${[...allowed].join(', ')}`);
    }
    throw new AppError('not_found', 404, 'no such admin endpoint');
  });
  return router;
}
