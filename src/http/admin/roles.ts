import type Router from '@koa/router';
import type { AdminDelegation } from '../../services/admin-delegation.ts';
import type { RoleService } from '../../services/roles.ts';
import { NewRole, RolePatch } from '../../services/schemas/admin.ts';
import { pageOf, RoleView } from '../../services/schemas/responses.ts';
import { roleView } from '../../services/views.ts';
import { callerPower, requireScope } from '../middleware/admin-auth.ts';
import { assertIfMatch } from '../middleware/etag.ts';
import { guard, guarded } from '../middleware/guard.ts';
import { responds } from './openapi.ts';
import { IdParams, RoleQuery } from './schemas.ts';

export function roleRoutes(router: Router, roles: RoleService, delegation: AdminDelegation): void {
  router.post(
    '/roles',
    requireScope('roles:write', { event: 'role.created' }),
    responds('Role', RoleView, 201),
    guard({ body: NewRole }),
    async (ctx) => {
      const { body } = guarded(ctx, { body: NewRole });
      await delegation.checkPermissions(callerPower(ctx), body.permissions);
      const created = await roles.create(body);
      ctx.status = 201;
      ctx.set('Location', `/admin/roles/${created.id}`);
      ctx.body = roleView(created);
    },
  );

  router.get(
    '/roles',
    requireScope('roles:read'),
    responds('RolePage', pageOf(RoleView)),
    guard({ query: RoleQuery }),
    async (ctx) => {
      const { query } = guarded(ctx, { query: RoleQuery });
      const page = await roles.list(query);
      ctx.body = { data: page.map(roleView), next: page.length === query.limit ? page.at(-1)?.id : undefined };
    },
  );

  router.get(
    '/roles/:id',
    requireScope('roles:read'),
    responds('Role', RoleView),
    guard({ params: IdParams }),
    async (ctx) => {
      const { params } = guarded(ctx, { params: IdParams });
      ctx.body = roleView(await roles.get(params.id));
    },
  );

  router.patch(
    '/roles/:id',
    requireScope('roles:write', { event: 'role.updated' }),
    responds('Role', RoleView),
    guard({ params: IdParams, body: RolePatch }),
    async (ctx) => {
      const { params, body } = guarded(ctx, { params: IdParams, body: RolePatch });
      const current = await roles.get(params.id);
      assertIfMatch(ctx, current.updatedAt);
      const caller = callerPower(ctx);
      // whoever holds the role gets what is added to it: the caller must hold it too
      delegation.checkRoleTarget(caller, current);
      if (body.permissions) await delegation.checkPermissions(caller, body.permissions);
      ctx.body = roleView(await roles.update(params.id, body, { expected: current.updatedAt }));
    },
  );

  router.delete(
    '/roles/:id',
    requireScope('roles:write', { event: 'role.deleted' }),
    guard({ params: IdParams }),
    async (ctx) => {
      const { params } = guarded(ctx, { params: IdParams });
      const current = await roles.get(params.id);
      assertIfMatch(ctx, current.updatedAt);
      delegation.checkRoleTarget(callerPower(ctx), current);
      await roles.delete(params.id, { expected: current.updatedAt });
      ctx.status = 204;
    },
  );
}
