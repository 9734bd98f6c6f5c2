import type Router from '@koa/router';
import { z } from 'zod';
import type { SecurityEventRecord } from '../../db/repositories/security-events.ts';
import type { SecurityEventService } from '../../services/security-events.ts';
import { requireScope } from '../middleware/admin-auth.ts';
import { guard, guarded } from '../middleware/guard.ts';

const CURSOR = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)\|(\d{1,19})$/;

/** The position after the last event of a page: its time and id, opaque to callers. */
export const encodeCursor = (e: Pick<SecurityEventRecord, 'occurredAt' | 'id'>) =>
  Buffer.from(`${e.occurredAt.toISOString()}|${e.id}`).toString('base64url');

const Cursor = z
  .string()
  .max(128)
  .transform((v, ctx) => {
    const match = CURSOR.exec(Buffer.from(v, 'base64url').toString('utf8'));
    if (!match?.[1] || !match[2]) {
      ctx.addIssue({ code: 'custom', message: 'is not a cursor from a previous page' });
      return z.NEVER;
    }
    return { occurredAt: new Date(match[1]), id: match[2] };
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
  since: z.iso.datetime({ offset: true }).optional(),
  until: z.iso.datetime({ offset: true }).optional(),
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

/** `GET /admin/events`: the security event log, newest first, with filters and a cursor (DESIGN §3). */
export function eventRoutes(router: Router, events: SecurityEventService): void {
  router.get('/events', requireScope('events:read'), guard({ query: EventQuery }), async (ctx) => {
    const { query } = guarded(ctx, { query: EventQuery });
    const page = await events.list({
      type: query.type,
      subject: query.subject,
      clientId: query.client_id,
      since: query.since === undefined ? undefined : new Date(query.since),
      until: query.until === undefined ? undefined : new Date(query.until),
      before: query.after,
      limit: query.limit,
    });
    const last = page.at(-1);
    ctx.body = { data: page.map(view), next: page.length === query.limit && last ? encodeCursor(last) : undefined };
  });
}
