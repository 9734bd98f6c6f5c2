import { z } from 'zod';
import { eventPatternProblem } from '../event-types.ts';

// The admin API's webhook bodies: what it takes, and what it answers with (see responses.ts
// for how the answers are checked against the OpenAPI document).

const timestamp = z.iso.datetime().describe('ISO 8601, UTC');

const pattern = z
  .string()
  .max(64)
  .superRefine((value, ctx) => {
    const problem = eventPatternProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .describe('an event type (signin.failed), a family (user.*), or * for every event');

const url = z.string().min(1).max(2048).describe('https URL (http only to localhost or a loopback address)');
const events = z.array(pattern).min(1).max(64);
const description = z.string().max(256).nullable();

export const NewWebhook = z.strictObject({
  url,
  events,
  description: description.optional(),
});

export const WebhookPatch = z
  .strictObject({
    url: url.exactOptional(),
    events: events.exactOptional(),
    description: description.exactOptional(),
  })
  .refine((v) => Object.keys(v).length > 0, 'name at least one field to change');

const DELIVERY_CURSOR = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)\|([0-9a-f-]{36})$/;

/** The position after the last delivery of a page (its creation time and id), opaque to callers. */
export const encodeDeliveryCursor = (d: { createdAt: Date; id: string }) =>
  Buffer.from(`${d.createdAt.toISOString()}|${d.id}`).toString('base64url');

export const DeliveryQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  after: z
    .string()
    .max(128)
    .transform((v, ctx) => {
      const match = DELIVERY_CURSOR.exec(Buffer.from(v, 'base64url').toString('utf8'));
      const createdAt = new Date(match?.[1] ?? Number.NaN);
      if (!match?.[2] || Number.isNaN(createdAt.getTime()) || createdAt.toISOString() !== match[1]) {
        ctx.addIssue({ code: 'custom', message: 'is not a cursor from a previous page' });
        return z.NEVER;
      }
      return { createdAt, id: match[2] };
    })
    .optional(),
});

export const WebhookView = z.strictObject({
  id: z.string(),
  url: z.string(),
  events: z.array(z.string()),
  description: z.string().nullable(),
  max_attempts: z.number().int().describe('attempts before a delivery is dead-lettered'),
  previous_secret_expires_at: timestamp
    .nullable()
    .describe('after a rotation, until when the previous secret still signs beside the new one'),
  created_at: timestamp,
  updated_at: timestamp,
});

export const WebhookWithSecretView = WebhookView.extend({
  secret: z.string().describe('whsec_ and the base64 signing key; shown this once'),
});

export const WebhookDeliveryView = z.strictObject({
  id: z.string().describe('the webhook-id header of every attempt'),
  event_id: z.string(),
  event_type: z.string(),
  status: z.enum(['pending', 'delivered', 'dead']),
  dead_lettered: z.boolean(),
  attempts: z.number().int(),
  max_attempts: z.number().int(),
  last_response_status: z.number().int().nullable().describe('the HTTP status of the last answer, if there was one'),
  last_error: z.string().nullable(),
  next_attempt_at: timestamp.nullable().describe('when a pending delivery is tried next'),
  created_at: timestamp,
  completed_at: timestamp.nullable(),
});
