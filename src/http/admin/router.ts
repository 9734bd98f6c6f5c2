import Router from '@koa/router';
import { AppError } from '../../errors.ts';
import type { AccessTokenService } from '../../services/access-tokens.ts';
import type { ClientService } from '../../services/clients.ts';
import type { ResourceService } from '../../services/resources.ts';
import { adminAuth } from '../middleware/admin-auth.ts';
import { clientRoutes } from './clients.ts';
import { resourceRoutes } from './resources.ts';

export interface AdminDeps {
  audience: string;
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
  // anything else under /admin: a JSON 404 (after authentication, so paths are not probed anonymously)
  router.all('/{*rest}', () => {
    throw new AppError('not_found', 404, 'no such admin endpoint');
  });
  return router;
}
