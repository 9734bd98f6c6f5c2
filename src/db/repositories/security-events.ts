import type { SecurityEventRecord, SecurityEventRepository } from '../../services/ports/security-events.ts';
import type { Prisma, PrismaClient } from '../generated/client.ts';

type Row = Omit<SecurityEventRecord, 'id' | 'details'> & { id: bigint; details: Prisma.JsonValue };

const toRecord = (row: Row): SecurityEventRecord => ({
  ...row,
  id: row.id.toString(),
  details: (row.details ?? {}) as Record<string, unknown>,
});

export function createSecurityEventRepository(prisma: PrismaClient): SecurityEventRepository {
  return {
    async insertMany(events) {
      if (events.length === 0) return;
      // One statement for the whole batch, each column as one array parameter: this runs for
      // every token issued, and Prisma's createMany costs several times more CPU per row.
      await prisma.$executeRawUnsafe(
        `INSERT INTO "security_events" ("type", "occurred_at", "actor", "subject", "client_id", "ip", "user_agent", "outcome", "details")
         SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::jsonb[])`,
        events.map((e) => e.type),
        events.map((e) => e.occurredAt.toISOString()),
        events.map((e) => e.actor),
        events.map((e) => e.subject),
        events.map((e) => e.clientId),
        events.map((e) => e.ip),
        events.map((e) => e.userAgent),
        events.map((e) => e.outcome),
        events.map((e) => JSON.stringify(e.details)),
      );
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
