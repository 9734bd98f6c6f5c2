import type Router from '@koa/router';
import { notFound } from '../../errors.ts';
import type { AdminDelegation } from '../../services/admin-delegation.ts';
import { SecondFactorResetView } from '../../services/schemas/responses.ts';
import type { SecondFactorService } from '../../services/second-factors.ts';
import { callerPower, requireScope } from '../middleware/admin-auth.ts';
import { guard, guarded } from '../middleware/guard.ts';
import { responds } from './openapi.ts';
import { IdParams } from './schemas.ts';

/**
 * `DELETE /admin/users/{id}/mfa`: resets a user's second factors (someone who lost their phone
 * and their recovery codes): the authenticator app and the recovery codes go, and the code limits
 * are lifted. Passkeys stay: each is removed on its own (`DELETE /admin/users/{id}/passkeys/{passkeyId}`),
 * since a passkey is also a way to sign in without a password. Recorded as `mfa.reset` by the audit middleware.
 */
export function secondFactorRoutes(
  router: Router,
  secondFactors: Pick<SecondFactorService, 'reset'>,
  users: { get(id: string): Promise<unknown> },
  delegation: Pick<AdminDelegation, 'checkUserTarget'>,
): void {
  router.delete(
    '/users/:id/mfa',
    requireScope('users:write', { event: 'mfa.reset' }),
    responds('SecondFactorReset', SecondFactorResetView),
    guard({ params: IdParams }),
    async (ctx) => {
      const { params } = guarded(ctx, { params: IdParams });
      if (!(await users.get(params.id))) throw notFound('user');
      // resetting a second factor weakens the account: not for a user with more admin power
      await delegation.checkUserTarget(callerPower(ctx), params.id);
      const removed = await secondFactors.reset(params.id);
      ctx.body = { user_id: params.id, totp_removed: removed.totp, recovery_codes_removed: removed.recoveryCodes };
    },
  );
}
