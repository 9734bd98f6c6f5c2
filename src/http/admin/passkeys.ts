import type Router from '@koa/router';
import { z } from 'zod';
import { notFound } from '../../errors.ts';
import type { AdminDelegation } from '../../services/admin-delegation.ts';
import type { PasskeyService } from '../../services/passkeys.ts';
import type { PasskeyRecord } from '../../services/ports/passkeys.ts';
import { listOf, PasskeyView } from '../../services/schemas/responses.ts';
import { callerPower, requireScope } from '../middleware/admin-auth.ts';
import { guard, guarded } from '../middleware/guard.ts';
import { responds } from './openapi.ts';

const UserParams = z.object({ id: z.string().min(1).max(256) });
const PasskeyParams = z.object({ id: z.string().min(1).max(256), passkeyId: z.string().min(1).max(256) });

/** A passkey as the admin API shows it: never the public key (it is of no use outside). */
const view = (p: PasskeyRecord) => ({
  id: p.id,
  name: p.name,
  credential_id: p.credentialId,
  aaguid: p.aaguid,
  transports: p.transports,
  backup_eligible: p.backupEligible,
  backed_up: p.backedUp,
  counter: p.counter,
  created_at: p.createdAt.toISOString(),
  last_used_at: p.lastUsedAt?.toISOString() ?? null,
});

/** `GET /admin/users/{id}/passkeys`, `DELETE /admin/users/{id}/passkeys/{passkeyId}`. */
export function passkeyRoutes(
  router: Router,
  passkeys: PasskeyService,
  users: { get(id: string): Promise<unknown> },
  delegation: Pick<AdminDelegation, 'checkUserTarget'>,
): void {
  router.get(
    '/users/:id/passkeys',
    requireScope('users:read'),
    responds('PasskeyList', listOf(PasskeyView)),
    guard({ params: UserParams }),
    async (ctx) => {
      const { params } = guarded(ctx, { params: UserParams });
      if (!(await users.get(params.id))) throw notFound('user');
      ctx.body = { data: (await passkeys.list(params.id)).map(view) };
    },
  );

  router.delete(
    '/users/:id/passkeys/:passkeyId',
    requireScope('users:write', { event: 'passkey.removed' }),
    guard({ params: PasskeyParams }),
    async (ctx) => {
      const { params } = guarded(ctx, { params: PasskeyParams });
      await delegation.checkUserTarget(callerPower(ctx), params.id);
      if (!(await passkeys.remove(params.id, params.passkeyId, { by: 'admin', ip: ctx.ip }))) throw notFound('passkey');
      ctx.status = 204;
    },
  );
}
