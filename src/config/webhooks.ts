import type { z } from 'zod';
import { integerEnv } from './numbers.ts';

/**
 * The environment variables of webhook deliveries. Spread into the environment schema in
 * `index.ts`; documented in docs/webhooks.md and the README.
 */
export const WebhookEnv = {
  /** attempts before a delivery is dead-lettered (with the outbox's backoff, 20 is about three hours) */
  WEBHOOK_MAX_ATTEMPTS: integerEnv(1, 100, 20),
  /** how long a receiver has to answer one attempt */
  WEBHOOK_TIMEOUT_SECONDS: integerEnv(1, 60, 10),
};

type WebhookEnvValues = z.infer<z.ZodObject<typeof WebhookEnv>>;

export interface WebhookConfig {
  readonly maxAttempts: number;
  readonly timeoutMs: number;
}

export function webhookConfig(e: WebhookEnvValues): WebhookConfig {
  return Object.freeze({ maxAttempts: e.WEBHOOK_MAX_ATTEMPTS, timeoutMs: e.WEBHOOK_TIMEOUT_SECONDS * 1000 });
}
