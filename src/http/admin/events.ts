import type Router from '@koa/router';
import { z } from 'zod';
import { eventActivity } from '../../services/event-activity.ts';
import type { SecurityEventRecord } from '../../services/ports/security-events.ts';
import { EventActivityView, EventView, pageOf } from '../../services/schemas/responses.ts';
import type { SecurityEventService } from '../../services/security-events.ts';
import { requireScope } from '../middleware/admin-auth.ts';
import { guard, guarded } from '../middleware/guard.ts';
import { responds } from './openapi.ts';

const CURSOR = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)\|(\d{1,19})$/;

/** Event ids are PostgreSQL bigints: a larger number would overflow in the query. */
const MAX_EVENT_ID = 2n ** 63n - 1n;
/**
 * Times the log can hold and PostgreSQL can compare: no event predates the Unix epoch, and
 * year 0 (which ISO 8601 allows) is no year at all in PostgreSQL's calendar.
 */
const EARLIEST = Date.UTC(1970, 0, 1);
const LATEST = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
const inRange = (date: Date) => date.getTime() >= EARLIEST && date.getTime() <= LATEST;
const RANGE_MESSAGE = 'must be a time between 1970-01-01T00:00:00Z and 9999-12-31T23:59:59Z';

const Time = z.iso.datetime({ offset: true }).transform((v, ctx) => {
  const date = new Date(v);
  if (!inRange(date)) {
    ctx.addIssue({ code: 'custom', message: RANGE_MESSAGE });
    return z.NEVER;
  }
  return date;
});

/** The position after the last event of a page: its time and id, opaque to callers. */
const encodeCursor = (e: Pick<SecurityEventRecord, 'occurredAt' | 'id'>) =>
  Buffer.from(`${e.occurredAt.toISOString()}|${e.id}`).toString('base64url');

const Cursor = z
  .string()
  .max(128)
  .transform((v, ctx) => {
    const match = CURSOR.exec(Buffer.from(v, 'base64url').toString('utf8'));
    const occurredAt = new Date(match?.[1] ?? Number.NaN);
    const id = match?.[2];
    if (
      id === undefined ||
      BigInt(id) > MAX_EVENT_ID ||
      !inRange(occurredAt) ||
      occurredAt.toISOString() !== match?.[1]
    ) {
      ctx.addIssue({ code: 'custom', message: 'is not a cursor from a previous page' });
      return z.NEVER;
    }
    return { occurredAt, id };
  });

const EventQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  after: Cursor.optional(),
  /** an exact type or a family: `signin.failed`, `client.*` */
  type: z
    .string()
    .max(64)
    .regex(/^[a-z_]+(\.([a-z_]+|\*))?$/, 'must be a type such as signin.failed or client.*')
    .optional(),
  subject: z.string().min(1).max(256).optional(),
  client_id: z.string().min(1).max(256).optional(),
  since: Time.optional(),
  until: Time.optional(),
});

const view = (e: SecurityEventRecord) => ({
  id: e.id,
  type: e.type,
  time: e.occurredAt.toISOString(),
  outcome: e.outcome,
  actor: e.actor,
  subject: e.subject,
  client_id: e.clientId,
  ip: e.ip,
  user_agent: e.userAgent,
  details: e.details,
});

const ActivityQuery = z.strictObject({ window: z.enum(['hour', 'day']).default('hour') });

/** `GET /admin/events`: the security event log, newest first, with filters and a cursor. */
export function eventRoutes(router: Router, events: SecurityEventService): void {
  // before `/events`: counts per time bucket of the log's sign-ins, tokens, lockouts, limits and surges
  router.get(
    '/events/activity',
    requireScope('events:read'),
    responds('EventActivity', EventActivityView),
    guard({ query: ActivityQuery }),
    async (ctx) => {
      const { query } = guarded(ctx, { query: ActivityQuery });
      const activity = await eventActivity(events, query.window);
      ctx.body = {
        window: activity.window,
        since: activity.since.toISOString(),
        until: activity.until.toISOString(),
        bucket_seconds: activity.bucketSeconds,
        buckets: activity.buckets.map((b) => b.toISOString()),
        series: activity.series,
        surges: activity.surges.map((s) => ({
          id: s.id,
          time: s.time.toISOString(),
          kind: s.kind,
          dimension: s.dimension,
          key: s.key,
          per_minute: s.perMinute,
          threshold: s.threshold,
          action: s.action,
          rate_limit_trips: s.rateLimitTrips,
          lockouts: s.lockouts,
        })),
      };
    },
  );

  router.get(
    '/events',
    requireScope('events:read'),
    responds('EventPage', pageOf(EventView)),
    guard({ query: EventQuery }),
    async (ctx) => {
      const { query } = guarded(ctx, { query: EventQuery });
      const page = await events.list({
        type: query.type,
        subject: query.subject,
        clientId: query.client_id,
        since: query.since,
        until: query.until,
        before: query.after,
        limit: query.limit,
      });
      const last = page.at(-1);
      ctx.body = { data: page.map(view), next: page.length === query.limit && last ? encodeCursor(last) : undefined };
    },
  );
}
