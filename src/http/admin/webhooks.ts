import type Router from '@koa/router';
import type { Context } from 'koa';
import { AppError } from '../../errors.ts';
import { covers } from '../../services/admin-delegation.ts';
import type { WebhookDeliveryRecord, WebhookRecord } from '../../services/ports/webhooks.ts';
import { pageOf } from '../../services/schemas/responses.ts';
import {
  DeliveryQuery,
  encodeDeliveryCursor,
  NewWebhook,
  WebhookDeliveryView,
  WebhookPatch,
  WebhookView,
  WebhookWithSecretView,
} from '../../services/schemas/webhooks.ts';
import type { WebhookService } from '../../services/webhooks.ts';
import { callerPower, requireScope } from '../middleware/admin-auth.ts';
import { assertIfMatch } from '../middleware/etag.ts';
import { guard, guarded } from '../middleware/guard.ts';
import { responds } from './openapi.ts';
import { IdParams, WebhookQuery } from './schemas.ts';

const view = (w: WebhookRecord) => ({
  id: w.id,
  url: w.url,
  events: w.events,
  description: w.description,
  max_attempts: w.maxAttempts,
  previous_secret_expires_at:
    w.previousSecretExpiresAt && w.previousSecretExpiresAt.getTime() > Date.now()
      ? w.previousSecretExpiresAt.toISOString()
      : null,
  created_at: w.createdAt.toISOString(),
  updated_at: w.updatedAt.toISOString(),
});

const deliveryView = (d: WebhookDeliveryRecord) => ({
  id: d.id,
  event_id: d.eventId,
  event_type: d.eventType,
  status: d.status === 'sent' ? ('delivered' as const) : d.status,
  dead_lettered: d.status === 'dead',
  attempts: d.attempts,
  max_attempts: d.maxAttempts,
  last_response_status: d.lastStatus,
  last_error: d.lastError,
  next_attempt_at: d.status === 'pending' ? d.availableAt.toISOString() : null,
  created_at: d.createdAt.toISOString(),
  completed_at: d.doneAt?.toISOString() ?? null,
});

/**
 * A webhook receives the security events: whoever points one somewhere reads the event log
 * there. So making or changing one also needs what reading the log needs (decision 0010: no
 * scope reaches what a stronger one guards).
 */
function assertMayReadEvents(ctx: Context): void {
  if (!covers(callerPower(ctx), 'events:read')) {
    throw new AppError('insufficient_scope', 403, 'a webhook receives the security events: this needs events:read too');
  }
}

/** `/admin/webhooks`: security events pushed to registered URLs (docs/webhooks.md). */
export function webhookRoutes(router: Router, webhooks: WebhookService): void {
  router.post(
    '/webhooks',
    requireScope('webhooks:write', { event: 'webhook.created' }),
    responds('WebhookWithSecret', WebhookWithSecretView, 201),
    guard({ body: NewWebhook }),
    async (ctx) => {
      assertMayReadEvents(ctx);
      const { body } = guarded(ctx, { body: NewWebhook });
      const { webhook, secret } = await webhooks.create(body);
      ctx.status = 201;
      ctx.set('Location', `/admin/webhooks/${webhook.id}`);
      ctx.body = { ...view(webhook), secret };
    },
  );

  router.get(
    '/webhooks',
    requireScope('webhooks:read'),
    responds('WebhookPage', pageOf(WebhookView)),
    guard({ query: WebhookQuery }),
    async (ctx) => {
      const { query } = guarded(ctx, { query: WebhookQuery });
      const page = await webhooks.list({ after: query.after, limit: query.limit });
      ctx.body = { data: page.map(view), next: page.length === query.limit ? page.at(-1)?.id : undefined };
    },
  );

  router.get(
    '/webhooks/:id',
    requireScope('webhooks:read'),
    responds('Webhook', WebhookView),
    guard({ params: IdParams }),
    async (ctx) => {
      const { params } = guarded(ctx, { params: IdParams });
      ctx.body = view(await webhooks.get(params.id));
    },
  );

  router.patch(
    '/webhooks/:id',
    requireScope('webhooks:write', { event: 'webhook.updated' }),
    responds('Webhook', WebhookView),
    guard({ params: IdParams, body: WebhookPatch }),
    async (ctx) => {
      assertMayReadEvents(ctx);
      const { params, body } = guarded(ctx, { params: IdParams, body: WebhookPatch });
      const current = await webhooks.get(params.id);
      assertIfMatch(ctx, current.updatedAt);
      ctx.body = view(await webhooks.update(params.id, body, { expected: current.updatedAt }));
    },
  );

  router.post(
    '/webhooks/:id/secret',
    requireScope('webhooks:write', { event: 'webhook.secret_rotated' }),
    responds('WebhookWithSecret', WebhookWithSecretView),
    guard({ params: IdParams }),
    async (ctx) => {
      assertMayReadEvents(ctx);
      const { params } = guarded(ctx, { params: IdParams });
      const { webhook, secret } = await webhooks.rotateSecret(params.id);
      ctx.body = { ...view(webhook), secret };
    },
  );

  router.delete(
    '/webhooks/:id',
    requireScope('webhooks:write', { event: 'webhook.deleted' }),
    guard({ params: IdParams }),
    async (ctx) => {
      const { params } = guarded(ctx, { params: IdParams });
      const current = await webhooks.get(params.id);
      assertIfMatch(ctx, current.updatedAt);
      await webhooks.delete(params.id, { expected: current.updatedAt });
      ctx.status = 204;
    },
  );

  router.get(
    '/webhooks/:id/deliveries',
    requireScope('webhooks:read'),
    responds('WebhookDeliveryPage', pageOf(WebhookDeliveryView)),
    guard({ params: IdParams, query: DeliveryQuery }),
    async (ctx) => {
      const { params, query } = guarded(ctx, { params: IdParams, query: DeliveryQuery });
      const page = await webhooks.deliveries(params.id, { before: query.after, limit: query.limit });
      const last = page.at(-1);
      ctx.body = {
        data: page.map(deliveryView),
        next: page.length === query.limit && last ? encodeDeliveryCursor(last) : undefined,
      };
    },
  );
}
