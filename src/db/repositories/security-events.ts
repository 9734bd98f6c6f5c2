import type { SecurityEventRecord, SecurityEventRepository } from '../../services/ports/security-events.ts';
import type { Query } from '../database.ts';
import type { Prisma, PrismaClient } from '../generated/client.ts';

type Row = Omit<SecurityEventRecord, 'id' | 'details'> & { id: bigint; details: Prisma.JsonValue };

const toRecord = (row: Row): SecurityEventRecord => ({
  ...row,
  id: row.id.toString(),
  details: (row.details ?? {}) as Record<string, unknown>,
});

export function createSecurityEventRepository(prisma: PrismaClient, query: Query): SecurityEventRepository {
  return {
    async insertMany(events) {
      if (events.length === 0) return 0;
      // One statement for the whole batch, each column as one array parameter: this runs for
      // every token issued, and Prisma's createMany costs several times more CPU per row.
      // The same statement queues a delivery (an outbox row of kind 'webhook') for every webhook
      // whose patterns match an event: an event is never stored without its deliveries, nor a
      // delivery queued for an event that was not stored. The payload is the event as
      // GET /admin/events shows it; `deliveries` in webhooks.ts reads its id and type back.
      // On the pool, past Prisma, whose own work per call costs more CPU than the statement.
      const [row] = await query<{ queued: number }>(
        `WITH ev AS (
           INSERT INTO "security_events" ("type", "occurred_at", "actor", "subject", "client_id", "ip", "user_agent", "outcome", "details")
           SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::jsonb[])
           RETURNING *
         ), queued AS (
           INSERT INTO "outbox" ("id", "kind", "payload", "max_attempts", "webhook_id")
           SELECT gen_random_uuid()::text, 'webhook',
                  jsonb_build_object('webhookId', w."id", 'event', jsonb_build_object(
                    'id', ev."id"::text, 'type', ev."type",
                    'time', to_char(ev."occurred_at" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                    'outcome', ev."outcome", 'actor', ev."actor", 'subject', ev."subject",
                    'client_id', ev."client_id", 'ip', ev."ip", 'user_agent', ev."user_agent",
                    'details', ev."details")),
                  w."max_attempts", w."id"
           FROM ev JOIN "webhooks" AS w
             ON ev."type" = ANY(w."events") OR '*' = ANY(w."events")
                OR (split_part(ev."type", '.', 1) || '.*') = ANY(w."events")
           RETURNING 1
         )
         SELECT count(*)::int AS "queued" FROM queued`,
        [
          events.map((e) => e.type),
          events.map((e) => e.occurredAt.toISOString()),
          events.map((e) => e.actor),
          events.map((e) => e.subject),
          events.map((e) => e.clientId),
          events.map((e) => e.ip),
          events.map((e) => e.userAgent),
          events.map((e) => e.outcome),
          events.map((e) => JSON.stringify(e.details)),
        ],
      );
      return Number(row?.queued ?? 0);
    },

    async list(filter) {
      const and: Prisma.SecurityEventWhereInput[] = [];
      if (filter.type !== undefined) {
        and.push(
          filter.type.endsWith('.*') ? { type: { startsWith: filter.type.slice(0, -1) } } : { type: filter.type },
        );
      }
      if (filter.subject !== undefined) and.push({ subject: filter.subject });
      if (filter.clientId !== undefined) and.push({ clientId: filter.clientId });
      if (filter.since !== undefined) and.push({ occurredAt: { gte: filter.since } });
      if (filter.until !== undefined) and.push({ occurredAt: { lt: filter.until } });
      if (filter.before !== undefined) {
        const { occurredAt, id } = filter.before;
        and.push({ OR: [{ occurredAt: { lt: occurredAt } }, { occurredAt, id: { lt: BigInt(id) } }] });
      }
      const rows = await prisma.securityEvent.findMany({
        where: { AND: and },
        orderBy: [{ occurredAt: 'desc' }, { id: 'desc' }],
        take: filter.limit,
      });
      return rows.map(toRecord);
    },

    async histogram({ since, until, bucketSeconds, types }) {
      // grouped in the database on the (type, occurred_at) index: a day of token traffic is
      // millions of rows, the answer a few hundred
      const rows = await prisma.$queryRawUnsafe<{ bucket: Date; type: string; outcome: string; count: number }[]>(
        `SELECT to_timestamp(floor(extract(epoch FROM "occurred_at") / $3::int) * $3::int) AS "bucket",
                "type", "outcome", count(*)::int AS "count"
           FROM "security_events"
          WHERE "type" = ANY($4::text[]) AND "occurred_at" >= $1::timestamptz AND "occurred_at" < $2::timestamptz
          GROUP BY 1, 2, 3
          ORDER BY 1, 2, 3`,
        since.toISOString(),
        until.toISOString(),
        bucketSeconds,
        [...types],
      );
      return rows.map((r) => ({
        bucket: new Date(r.bucket),
        type: r.type,
        outcome: r.outcome,
        count: Number(r.count),
      }));
    },

    async surges({ since, until, limit, followMinutes }) {
      const found = await prisma.securityEvent.findMany({
        where: { type: 'surge.detected', occurredAt: { gte: since, lt: until } },
        orderBy: [{ occurredAt: 'desc' }, { id: 'desc' }],
        take: limit,
      });
      if (found.length === 0) return [];
      // what the limits did about each surge: counted in the database, per surge
      const counts = await prisma.$queryRawUnsafe<{ id: bigint; trips: number; lockouts: number }[]>(
        `SELECT s."id",
                count(e."id") FILTER (WHERE e."type" = 'ratelimit.tripped')::int AS "trips",
                count(e."id") FILTER (WHERE e."type" = 'signin.locked')::int AS "lockouts"
           FROM "security_events" s
           LEFT JOIN "security_events" e
             ON e."type" IN ('ratelimit.tripped', 'signin.locked')
            AND e."occurred_at" >= s."occurred_at" - interval '1 minute'
            AND e."occurred_at" < s."occurred_at" + make_interval(mins => $2::int)
            AND (e."ip" = s."ip" OR e."client_id" = s."client_id" OR e."subject" = s."subject")
          WHERE s."id" = ANY($1::bigint[])
          GROUP BY s."id"`,
        found.map((row) => row.id.toString()),
        followMinutes,
      );
      const byId = new Map(counts.map((c) => [c.id.toString(), c]));
      return found.map((row) => {
        const c = byId.get(row.id.toString());
        return { event: toRecord(row), rateLimitTrips: Number(c?.trips ?? 0), lockouts: Number(c?.lockouts ?? 0) };
      });
    },

    async purgeOlderThan(cutoff, batch) {
      const rows = await prisma.securityEvent.findMany({
        where: { occurredAt: { lt: cutoff } },
        select: { id: true },
        orderBy: { id: 'asc' },
        take: batch,
      });
      if (rows.length === 0) return 0;
      const { count } = await prisma.securityEvent.deleteMany({ where: { id: { in: rows.map((r) => r.id) } } });
      return count;
    },
  };
}
