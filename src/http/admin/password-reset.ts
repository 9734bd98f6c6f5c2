import type Router from '@koa/router';
import type { AdminDelegation } from '../../services/admin-delegation.ts';
import type { PasswordResetService } from '../../services/password-reset.ts';
import { PasswordResetSent } from '../../services/schemas/responses.ts';
import { callerPower, requireScope } from '../middleware/admin-auth.ts';
import { guard, guarded } from '../middleware/guard.ts';
import { responds } from './openapi.ts';
import { IdParams } from './schemas.ts';

/**
 * `POST /admin/users/{id}/password-reset`: mails the user a password reset link (202: it is in the
 * outbox). The admin never sees the link; the event (`password.reset_requested`) names the admin.
 */
export function passwordResetRoutes(
  router: Router,
  passwordReset: Pick<PasswordResetService, 'sendFor'>,
  delegation: Pick<AdminDelegation, 'checkUserTarget'>,
): void {
  router.post(
    '/users/:id/password-reset',
    requireScope('users:write', { event: 'password.reset_requested' }),
    responds('PasswordResetSent', PasswordResetSent, 202),
    guard({ params: IdParams }),
    async (ctx) => {
      const { params } = guarded(ctx, { params: IdParams });
      // the link sets a new password: not for a user with more admin power than the caller
      await delegation.checkUserTarget(callerPower(ctx), params.id);
      const { expiresAt } = await passwordReset.sendFor(params.id);
      ctx.status = 202;
      ctx.body = { expires_at: expiresAt.toISOString() };
    },
  );
}
