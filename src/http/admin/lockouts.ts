import type Router from '@koa/router';
import { notFound } from '../../errors.ts';
import type { PublicUser } from '../../services/accounts.ts';
import type { AdminDelegation } from '../../services/admin-delegation.ts';
import type { BruteForceProtection } from '../../services/brute-force.ts';
import type { SecondFactorService } from '../../services/second-factors.ts';
import { callerPower, requireScope } from '../middleware/admin-auth.ts';
import { guard, guarded } from '../middleware/guard.ts';
import { IdParams } from './schemas.ts';

export interface LockoutDeps {
  bruteForce: Pick<BruteForceProtection, 'unlock'>;
  users: { get(id: string): Promise<PublicUser | undefined> };
  /** the limits on second-factor codes, lifted with the lockouts; reset by `DELETE /admin/users/{id}/mfa` */
  secondFactors: Pick<SecondFactorService, 'unlock' | 'reset'>;
}

/**
 * `POST /admin/users/{id}/unlock`: lifts the sign-in lockouts of a user, both the
 * account-wide one and those per address, under every name the user signs in with, and the
 * limits on second-factor codes.
 * The change itself is recorded by the audit middleware (`user.unlocked`).
 */
export function lockoutRoutes(
  router: Router,
  deps: LockoutDeps,
  delegation: Pick<AdminDelegation, 'checkUserTarget'>,
): void {
  router.post(
    '/users/:id/unlock',
    requireScope('users:write', { event: 'user.unlocked' }),
    guard({ params: IdParams }),
    async (ctx) => {
      const { params } = guarded(ctx, { params: IdParams });
      const user = await deps.users.get(params.id);
      if (!user) throw notFound('user');
      // lifting a lockout helps whoever guesses at the account: not for a user with more admin power
      await delegation.checkUserTarget(callerPower(ctx), user.id);
      await deps.bruteForce.unlock([user.username, ...(user.email ? [user.email] : [])]);
      await deps.secondFactors.unlock(user.id);
      ctx.status = 204;
    },
  );
}
