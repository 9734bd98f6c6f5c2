import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { AppError, invalidField, notFound, stale } from '../errors.ts';
import { type OutboxHandler, PermanentFailure } from './outbox.ts';
import type { WebhookDeliveryRecord, WebhookRecord, WebhookRepository } from './ports/webhooks.ts';
import { seal, unseal } from './secrets.ts';

/** Where deliveries leave this server: the URL rules (no internal targets) and the POST itself. */
export interface WebhookSender {
  /** why `url` cannot receive webhooks (http to a non-loopback host, https to a non-public address, ...), or undefined */
  problem(url: URL): string | undefined;
  /**
   * POSTs `body` and resolves with the answer's status (redirects are not followed); rejects
   * when there is no answer in time. A target the rules refuse rejects with `PermanentFailure`.
   */
  post(url: string, headers: Record<string, string>, body: string): Promise<number>;
}

export interface WebhookInput {
  url: string;
  events: string[];
  description?: string | null | undefined;
}

/** A webhook and, when one was just made, its secret (shown this once). */
export interface WebhookWithSecret {
  webhook: WebhookRecord;
  secret: string;
}

export interface WebhookService {
  create(input: WebhookInput): Promise<WebhookWithSecret>;
  get(id: string): Promise<WebhookRecord>;
  list(page: { after?: string | undefined; limit: number }): Promise<WebhookRecord[]>;
  update(id: string, changes: Partial<WebhookInput>, options: { expected: Date }): Promise<WebhookRecord>;
  /** a new secret; the previous one keeps signing beside it for `ROTATION_OVERLAP_MS` */
  rotateSecret(id: string): Promise<WebhookWithSecret>;
  delete(id: string, options: { expected: Date }): Promise<void>;
  deliveries(
    id: string,
    page: { before?: { createdAt: Date; id: string } | undefined; limit: number },
  ): Promise<WebhookDeliveryRecord[]>;
  /** the outbox handler of kind `webhook` */
  readonly handler: OutboxHandler;
}

/** The outbox kind of a delivery (the database's fan-out writes it, see db/repositories/security-events.ts). */
export const WEBHOOK_KIND = 'webhook';

/** After a rotation, both secrets sign every delivery for a day, so receivers can switch without losing one. */
const ROTATION_OVERLAP_MS = 24 * 3600_000;

/** Standard Webhooks: a secret is `whsec_` and the base64 of the key; 32 random bytes (256 bits). */
const SECRET_PREFIX = 'whsec_';
const newSecret = () => SECRET_PREFIX + randomBytes(32).toString('base64');

/**
 * The Standard Webhooks signature: `v1,` and the base64 HMAC-SHA256, keyed with the
 * base64-decoded secret, of `<webhook-id>.<webhook-timestamp>.<body>`.
 */
function signWebhook(secret: string, id: string, timestamp: string, body: string): string {
  const key = Buffer.from(secret.slice(SECRET_PREFIX.length), 'base64');
  return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
}

/** The fields of an event in the order GET /admin/events shows them. */
const EVENT_FIELDS = ['id', 'type', 'time', 'outcome', 'actor', 'subject', 'client_id', 'ip', 'user_agent', 'details'];

interface DeliveryPayload {
  webhookId: string;
  event: Record<string, unknown> & { id: string; type: string };
}

function deliveryPayload(payload: unknown): DeliveryPayload {
  const p = payload as Partial<DeliveryPayload> | null;
  if (typeof p?.webhookId !== 'string' || typeof p.event !== 'object' || p.event === null) {
    throw new PermanentFailure('not a webhook delivery');
  }
  return p as DeliveryPayload;
}

/**
 * Webhooks: URLs that receive the security events matching their patterns, signed as the
 * Standard Webhooks specification says. The deliveries are outbox rows (decision 0013) queued
 * by the database in the statement that stores the events (decision 0020), so one is never
 * lost while the receiver or this server is down; a delivery is retried with the outbox's
 * backoff until it is answered 2xx, and dead-lettered after the webhook's `maxAttempts`.
 */
export function createWebhookService(deps: {
  repo: WebhookRepository;
  sender: WebhookSender;
  /** seals the secrets at rest (AES-256-GCM, the webhook id authenticated) */
  sealKey: Buffer;
  /** attempts before a delivery is dead-lettered, for webhooks made from now on */
  maxAttempts: number;
}): WebhookService {
  const { repo, sender, sealKey } = deps;

  const checkUrl = (raw: string): string => {
    const url = URL.parse(raw);
    if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
      throw invalidField('url', 'must be an https URL (or http to localhost or a loopback address)');
    }
    if (url.username || url.password) throw invalidField('url', 'must not carry a user name or password');
    if (url.hash) throw invalidField('url', 'must not have a fragment');
    const problem = sender.problem(url);
    if (problem) throw invalidField('url', problem);
    return url.href;
  };

  const get = async (id: string) => {
    const webhook = await repo.find(id);
    if (!webhook) throw notFound('webhook');
    return webhook;
  };

  const secretsOf = (webhook: WebhookRecord, now: number): string[] => {
    const secrets = [unseal(webhook.secretSealed, sealKey, webhook.id)];
    if (webhook.previousSecretSealed && (webhook.previousSecretExpiresAt?.getTime() ?? 0) > now) {
      secrets.push(unseal(webhook.previousSecretSealed, sealKey, webhook.id));
    }
    return secrets;
  };

  const handler: OutboxHandler = {
    async handle(payload, item) {
      const { webhookId, event } = deliveryPayload(payload);
      const webhook = await repo.find(webhookId);
      // deleting a webhook deletes its deliveries; this one was claimed just before
      if (!webhook) throw new PermanentFailure('the webhook was deleted');
      const view: Record<string, unknown> = {};
      for (const field of EVENT_FIELDS) view[field] = event[field] ?? null;
      const body = JSON.stringify(view);
      const now = Date.now();
      const timestamp = String(Math.floor(now / 1000));
      const signature = secretsOf(webhook, now)
        .map((secret) => signWebhook(secret, item.id, timestamp, body))
        .join(' ');
      const status = await sender.post(
        webhook.url,
        {
          'content-type': 'application/json',
          'webhook-id': item.id,
          'webhook-timestamp': timestamp,
          'webhook-signature': signature,
        },
        body,
      );
      if (status >= 200 && status < 300) return { status };
      throw Object.assign(new Error(`the receiver answered ${status}`), { status });
    },
    // what stays once the delivery is done: which event it was, never its contents
    summary(payload) {
      const { webhookId, event } = deliveryPayload(payload);
      return { webhookId, event: { id: event.id, type: event.type } };
    },
  };

  return {
    async create(input) {
      const id = randomUUID();
      const secret = newSecret();
      const webhook = await repo.create({
        id,
        url: checkUrl(input.url),
        events: [...new Set(input.events)],
        description: input.description ?? null,
        secretSealed: seal(secret, sealKey, id),
        previousSecretSealed: null,
        previousSecretExpiresAt: null,
        maxAttempts: deps.maxAttempts,
      });
      return { webhook, secret };
    },
    get,
    list: (page) => repo.list(page),
    async update(id, changes, { expected }) {
      const updated = await repo.update(
        id,
        {
          ...(changes.url === undefined ? {} : { url: checkUrl(changes.url) }),
          ...(changes.events === undefined ? {} : { events: [...new Set(changes.events)] }),
          ...(changes.description === undefined ? {} : { description: changes.description }),
        },
        expected,
      );
      if (updated === 'stale') throw stale();
      if (!updated) throw notFound('webhook');
      return updated;
    },
    async rotateSecret(id) {
      const current = await get(id);
      const secret = newSecret();
      const updated = await repo.update(
        id,
        {
          secretSealed: seal(secret, sealKey, id),
          previousSecretSealed: current.secretSealed,
          previousSecretExpiresAt: new Date(Date.now() + ROTATION_OVERLAP_MS),
        },
        current.updatedAt,
      );
      if (updated === 'stale') throw new AppError('conflict', 409, 'the webhook changed meanwhile; try again');
      if (!updated) throw notFound('webhook');
      return { webhook: updated, secret };
    },
    async delete(id, { expected }) {
      const deleted = await repo.delete(id, expected);
      if (deleted === 'stale') throw stale();
      if (!deleted) throw notFound('webhook');
    },
    async deliveries(id, page) {
      await get(id);
      return repo.deliveries(id, page);
    },
    handler,
  };
}
