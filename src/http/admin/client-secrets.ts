import type Router from '@koa/router';
import type { AdminDelegation } from '../../services/admin-delegation.ts';
import type { ClientSecretService } from '../../services/client-secrets.ts';
import type { ClientService } from '../../services/clients.ts';
import type { ClientSecretRecord } from '../../services/ports/client-secrets.ts';
import {
  ClientSecretCreated,
  ClientSecretView,
  NewClientSecret,
  SecretParams,
} from '../../services/schemas/federation.ts';
import { listOf } from '../../services/schemas/responses.ts';
import { callerPower, requireScope } from '../middleware/admin-auth.ts';
import { guard, guarded } from '../middleware/guard.ts';
import { responds } from './openapi.ts';
import { IdParams } from './schemas.ts';

/** A secret as the admin API shows it: never its value or its hash. */
const secretView = (s: ClientSecretRecord) => ({
  id: s.id,
  name: s.name,
  createdAt: s.createdAt.toISOString(),
  expiresAt: s.expiresAt?.toISOString() ?? null,
  lastUsedAt: s.lastUsedAt?.toISOString() ?? null,
});

/**
 * Several live secrets per client: add the new one, deploy it, remove the old one. The same
 * delegation rule as a rotation: the caller must be able to manage the client.
 */
export function clientSecretRoutes(
  router: Router,
  clients: ClientService,
  secrets: ClientSecretService,
  delegation: AdminDelegation,
): void {
  router.get(
    '/clients/:id/secrets',
    requireScope('clients:read'),
    responds('ClientSecretList', listOf(ClientSecretView)),
    guard({ params: IdParams }),
    async (ctx) => {
      const { params } = guarded(ctx, { params: IdParams });
      ctx.body = { data: (await secrets.list(params.id)).map(secretView) };
    },
  );

  router.post(
    '/clients/:id/secrets',
    requireScope('clients:write', { event: 'client.secret_added' }),
    responds('ClientSecretCreated', ClientSecretCreated, 201),
    guard({ params: IdParams, body: NewClientSecret }),
    async (ctx) => {
      const { params, body } = guarded(ctx, { params: IdParams, body: NewClientSecret });
      await delegation.checkClientTarget(callerPower(ctx), await clients.get(params.id));
      const { record, secret } = await secrets.add(params.id, { name: body.name, expiresAt: body.expiresAt });
      ctx.status = 201;
      ctx.set('Cache-Control', 'no-store');
      ctx.set('Location', `/admin/clients/${encodeURIComponent(params.id)}/secrets/${record.id}`);
      ctx.body = { ...secretView(record), secret };
    },
  );

  router.delete(
    '/clients/:id/secrets/:secretId',
    requireScope('clients:write', { event: 'client.secret_removed' }),
    guard({ params: SecretParams }),
    async (ctx) => {
      const { params } = guarded(ctx, { params: SecretParams });
      await delegation.checkClientTarget(callerPower(ctx), await clients.get(params.id));
      await secrets.remove(params.id, params.secretId);
      ctx.status = 204;
    },
  );
}
