import type { Config } from '../config/index.ts';
import type { Outbox } from '../services/outbox.ts';
import type { DerivedKeys } from '../services/secrets.ts';
import type { SecurityEventService } from '../services/security-events.ts';
import { createWebhookService, WEBHOOK_KIND } from '../services/webhooks.ts';
import type { Repositories } from './repositories.ts';
import { createWebhookSender } from './webhook-transport.ts';

/**
 * Webhooks: the service, its outbox handler, and the wake-up of the outbox worker when the
 * event log queued deliveries (the database queues them with the events, decision 0020).
 */
export function createWebhooks(deps: {
  config: Config;
  repos: Repositories;
  secrets: DerivedKeys;
  outbox: Outbox;
  events: SecurityEventService;
}) {
  const { config, outbox, events } = deps;
  const webhooks = createWebhookService({
    repo: deps.repos.webhooks,
    sender: createWebhookSender({ timeoutMs: config.webhooks.timeoutMs }),
    sealKey: deps.secrets.webhookSecrets,
    maxAttempts: config.webhooks.maxAttempts,
  });
  outbox.register(WEBHOOK_KIND, webhooks.handler);
  events.onDeliveriesQueued(() => outbox.wake());
  return webhooks;
}
