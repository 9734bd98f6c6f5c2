/** A registered webhook as stored: its secret only sealed (see services/webhooks.ts). */
export interface WebhookRecord {
  id: string;
  url: string;
  /** exact types, `family.*` or `*` */
  events: string[];
  description: string | null;
  secretSealed: string;
  previousSecretSealed: string | null;
  previousSecretExpiresAt: Date | null;
  /** attempts before a delivery is dead-lettered */
  maxAttempts: number;
  createdAt: Date;
  updatedAt: Date;
}

export type NewWebhook = Omit<WebhookRecord, 'createdAt' | 'updatedAt'>;

export type WebhookChanges = Partial<
  Pick<
    WebhookRecord,
    'url' | 'events' | 'description' | 'secretSealed' | 'previousSecretSealed' | 'previousSecretExpiresAt'
  >
>;

/** One delivery of one event to one webhook: an outbox row of kind `webhook`. */
export interface WebhookDeliveryRecord {
  /** the `webhook-id` header of every attempt */
  id: string;
  eventId: string;
  eventType: string;
  status: 'pending' | 'sent' | 'dead';
  attempts: number;
  maxAttempts: number;
  /** the HTTP status of the last answer; null when there was none (refused, timed out, no attempt yet) */
  lastStatus: number | null;
  lastError: string | null;
  /** when a pending delivery is tried next (or its current attempt's lease ends) */
  availableAt: Date;
  createdAt: Date;
  doneAt: Date | null;
}

export interface WebhookRepository {
  create(webhook: NewWebhook): Promise<WebhookRecord>;
  find(id: string): Promise<WebhookRecord | undefined>;
  /** oldest first, after the id `after` */
  list(page: { after?: string | undefined; limit: number }): Promise<WebhookRecord[]>;
  /** `'stale'` when `expected` is given and the row changed since */
  update(id: string, changes: WebhookChanges, expected?: Date): Promise<WebhookRecord | undefined | 'stale'>;
  /** its deliveries go with it (pending ones are not sent) */
  delete(id: string, expected?: Date): Promise<boolean | 'stale'>;
  /** newest first; `before` is the position after the last row of the previous page */
  deliveries(
    webhookId: string,
    page: { before?: { createdAt: Date; id: string } | undefined; limit: number },
  ): Promise<WebhookDeliveryRecord[]>;
}
