import type Router from '@koa/router';
import type { FederationService } from '../../services/federation.ts';
import type { FederatedIssuerRecord } from '../../services/ports/federation.ts';
import { FederatedIssuerPatch, FederatedIssuerView, NewFederatedIssuer } from '../../services/schemas/federation.ts';
import { pageOf } from '../../services/schemas/responses.ts';
import { requireScope } from '../middleware/admin-auth.ts';
import { assertIfMatch } from '../middleware/etag.ts';
import { guard, guarded } from '../middleware/guard.ts';
import { responds } from './openapi.ts';
import { IdParams, IssuerQuery } from './schemas.ts';

const issuerView = (i: FederatedIssuerRecord) => ({
  id: i.id,
  issuer: i.issuer,
  jwksUri: i.jwksUri,
  jwks: i.jwks,
  jwksCa: i.jwksCa,
  audience: i.audience,
  allowPrivateNetwork: i.allowPrivateNetwork,
  created_at: i.createdAt.toISOString(),
  updated_at: i.updatedAt.toISOString(),
});

/**
 * Trusted external issuers (workload identity federation, ADR 0017). Registering one, or
 * changing its keys, decides whose tokens every bound client accepts: `admin` only, not
 * `clients:write` (a delegated admin could otherwise swap the keys of an issuer another admin
 * bound a client to, and sign in as that client). Reading needs `clients:read`.
 */
export function federatedIssuerRoutes(router: Router, federation: FederationService): void {
  router.post(
    '/federated-issuers',
    requireScope('admin', { event: 'federated_issuer.created' }),
    responds('FederatedIssuer', FederatedIssuerView, 201),
    guard({ body: NewFederatedIssuer }),
    async (ctx) => {
      const { body } = guarded(ctx, { body: NewFederatedIssuer });
      const created = await federation.createIssuer(body);
      ctx.status = 201;
      ctx.set('Location', `/admin/federated-issuers/${created.id}`);
      ctx.body = issuerView(created);
    },
  );

  router.get(
    '/federated-issuers',
    requireScope('clients:read'),
    responds('FederatedIssuerPage', pageOf(FederatedIssuerView)),
    guard({ query: IssuerQuery }),
    async (ctx) => {
      const { query } = guarded(ctx, { query: IssuerQuery });
      const page = await federation.listIssuers({ after: query.after, limit: query.limit });
      ctx.body = { data: page.map(issuerView), next: page.length === query.limit ? page.at(-1)?.id : undefined };
    },
  );

  router.get(
    '/federated-issuers/:id',
    requireScope('clients:read'),
    responds('FederatedIssuerRead', FederatedIssuerView),
    guard({ params: IdParams }),
    async (ctx) => {
      const { params } = guarded(ctx, { params: IdParams });
      ctx.body = issuerView(await federation.getIssuer(params.id));
    },
  );

  router.patch(
    '/federated-issuers/:id',
    requireScope('admin', { event: 'federated_issuer.updated' }),
    responds('FederatedIssuerChanged', FederatedIssuerView),
    guard({ params: IdParams, body: FederatedIssuerPatch }),
    async (ctx) => {
      const { params, body } = guarded(ctx, { params: IdParams, body: FederatedIssuerPatch });
      const current = await federation.getIssuer(params.id);
      assertIfMatch(ctx, current.updatedAt);
      ctx.body = issuerView(await federation.updateIssuer(params.id, body, current.updatedAt));
    },
  );

  router.delete(
    '/federated-issuers/:id',
    requireScope('admin', { event: 'federated_issuer.deleted' }),
    guard({ params: IdParams }),
    async (ctx) => {
      const { params } = guarded(ctx, { params: IdParams });
      await federation.deleteIssuer(params.id);
      ctx.status = 204;
    },
  );
}
