import type Router from '@koa/router';
import { AppError, notFound } from '../../errors.ts';
import { type AccountService, RegisterInput, UpdateInput } from '../../services/accounts.ts';
import type { AdminDelegation } from '../../services/admin-delegation.ts';
import type { RoleService } from '../../services/roles.ts';
import { RoleNames } from '../../services/schemas/admin.ts';
import { pageOf, UserView } from '../../services/schemas/responses.ts';
import { userView } from '../../services/views.ts';
import { callerPower, requireScope } from '../middleware/admin-auth.ts';
import { assertIfMatch } from '../middleware/etag.ts';
import { guard, guarded } from '../middleware/guard.ts';
import { responds } from './openapi.ts';
import { IdParams, UserQuery } from './schemas.ts';

const NewUser = RegisterInput.extend({ roles: RoleNames.optional() });
const UserPatch = UpdateInput.extend({ roles: RoleNames.optional() });

export function userRoutes(
  router: Router,
  accounts: AccountService,
  roles: RoleService,
  delegation: AdminDelegation,
): void {
  const rolesOf = (id: string) => roles.namesOf({ kind: 'user', id });

  router.post(
    '/users',
    requireScope('users:write', { event: 'user.created' }),
    responds('User', UserView, 201),
    guard({ body: NewUser }),
    async (ctx) => {
      const { body } = guarded(ctx, { body: NewUser });
      const { roles: names, ...fields } = body;
      // a user's roles decide what their tokens may carry, the admin API included
      if (names) await delegation.checkRoleAssignment(callerPower(ctx), names);
      const user = await accounts.register(fields);
      if (names) await roles.assign({ kind: 'user', id: user.id }, names);
      ctx.status = 201;
      ctx.set('Location', `/admin/users/${user.id}`);
      ctx.body = userView(user, names ?? []);
    },
  );

  router.get(
    '/users',
    requireScope('users:read'),
    responds('UserPage', pageOf(UserView)),
    guard({ query: UserQuery }),
    async (ctx) => {
      const { query } = guarded(ctx, { query: UserQuery });
      const page = await accounts.list({
        limit: query.limit,
        ...(query.after ? { after: query.after } : {}),
        filter: { status: query.status, username: query.username, email: query.email },
      });
      ctx.body = {
        data: await Promise.all(page.users.map(async (u) => userView(u, await rolesOf(u.id)))),
        next: page.next,
      };
    },
  );

  router.get(
    '/users/:id',
    requireScope('users:read'),
    responds('User', UserView),
    guard({ params: IdParams }),
    async (ctx) => {
      const { params } = guarded(ctx, { params: IdParams });
      const user = await accounts.get(params.id);
      if (!user) throw notFound('user');
      ctx.body = userView(user, await rolesOf(user.id));
    },
  );

  router.patch(
    '/users/:id',
    requireScope('users:write', { event: 'user.updated' }),
    responds('User', UserView),
    guard({ params: IdParams, body: UserPatch }),
    async (ctx) => {
      const { params, body } = guarded(ctx, { params: IdParams, body: UserPatch });
      const { roles: names, ...fields } = body;
      if (Object.keys(body).length === 0)
        throw new AppError('invalid_request', 400, 'name at least one field to change');
      const existing = await accounts.get(params.id);
      if (!existing) throw notFound('user');
      assertIfMatch(ctx, existing.updatedAt);
      const caller = callerPower(ctx);
      // a new password or email for a user with more admin power would hand the caller that power
      await delegation.checkUserTarget(caller, params.id);
      if (names) await delegation.checkRoleAssignment(caller, names);
      // written only if still the version checked above (412 otherwise); a change of roles alone
      // gives the user a new version too
      const user = await accounts.update(params.id, fields, { expected: existing.updatedAt });
      if (names) await roles.assign({ kind: 'user', id: user.id }, names);
      ctx.body = userView(user, await rolesOf(user.id));
    },
  );

  router.delete(
    '/users/:id',
    requireScope('users:write', { event: 'user.deleted' }),
    guard({ params: IdParams }),
    async (ctx) => {
      const { params } = guarded(ctx, { params: IdParams });
      const existing = await accounts.get(params.id);
      if (!existing) throw notFound('user');
      assertIfMatch(ctx, existing.updatedAt);
      await delegation.checkUserTarget(callerPower(ctx), params.id);
      await accounts.remove(params.id, { expected: existing.updatedAt });
      ctx.status = 204;
    },
  );
}
