import type Router from '@koa/router';
import type { ResourceService } from '../../services/resources.ts';
import { NewResource, ResourcePatch } from '../../services/schemas/admin.ts';
import { pageOf, ResourceView } from '../../services/schemas/responses.ts';
import { resourceView } from '../../services/views.ts';
import { requireScope } from '../middleware/admin-auth.ts';
import { assertIfMatch } from '../middleware/etag.ts';
import { guard, guarded } from '../middleware/guard.ts';
import { responds } from './openapi.ts';
import { IdParams, ResourceQuery } from './schemas.ts';

export function resourceRoutes(router: Router, resources: ResourceService): void {
  router.post(
    '/resources',
    requireScope('resources:write', { event: 'resource.created' }),
    responds('Resource', ResourceView, 201),
    guard({ body: NewResource }),
    async (ctx) => {
      const { body } = guarded(ctx, { body: NewResource });
      const created = await resources.create(body);
      ctx.status = 201;
      ctx.set('Location', `/admin/resources/${created.id}`);
      ctx.body = resourceView(created);
    },
  );

  router.get(
    '/resources',
    requireScope('resources:read'),
    responds('ResourcePage', pageOf(ResourceView)),
    guard({ query: ResourceQuery }),
    async (ctx) => {
      const { query } = guarded(ctx, { query: ResourceQuery });
      const page = await resources.list({ after: query.after, limit: query.limit, identifierPrefix: query.identifier });
      ctx.body = { data: page.map(resourceView), next: page.length === query.limit ? page.at(-1)?.id : undefined };
    },
  );

  router.get(
    '/resources/:id',
    requireScope('resources:read'),
    responds('Resource', ResourceView),
    guard({ params: IdParams }),
    async (ctx) => {
      const { params } = guarded(ctx, { params: IdParams });
      ctx.body = resourceView(await resources.get(params.id));
    },
  );

  router.patch(
    '/resources/:id',
    requireScope('resources:write', { event: 'resource.updated' }),
    responds('Resource', ResourceView),
    guard({ params: IdParams, body: ResourcePatch }),
    async (ctx) => {
      const { params, body } = guarded(ctx, { params: IdParams, body: ResourcePatch });
      const current = await resources.get(params.id);
      assertIfMatch(ctx, current.updatedAt);
      ctx.body = resourceView(await resources.update(params.id, body, { expected: current.updatedAt }));
    },
  );

  router.delete(
    '/resources/:id',
    requireScope('resources:write', { event: 'resource.deleted' }),
    guard({ params: IdParams }),
    async (ctx) => {
      const { params } = guarded(ctx, { params: IdParams });
      const current = await resources.get(params.id);
      assertIfMatch(ctx, current.updatedAt);
      await resources.delete(params.id, { expected: current.updatedAt });
      ctx.status = 204;
    },
  );
}
